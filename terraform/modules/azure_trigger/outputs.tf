output "workflow_ids" {
  description = "The Logic Apps, by group."
  value       = { for g, w in azurerm_logic_app_workflow.group : g => w.id }
}

output "outbound_ip_addresses" {
  description = "Every address the Logic Apps send from: the AWS module's allowed_source_ips in source_ip mode."
  value       = sort(distinct(flatten([for w in azurerm_logic_app_workflow.group : w.workflow_outbound_ip_addresses])))
}

output "outbound_ip_addresses_by_group" {
  description = "The same, per group."
  value       = { for g, w in azurerm_logic_app_workflow.group : g => w.workflow_outbound_ip_addresses }
}

output "trigger_urls" {
  description = "The address each group's Logic App PUTs."
  value       = { for g in keys(var.groups) : g => "${var.trigger_url}/triggers/${g}" }
}
