locals {
  # What each deployment's template reported (its outputs section), by group.
  deployed = { for g, d in azurerm_resource_group_template_deployment.workflow : g => jsondecode(d.output_content) }
  outbound = { for g, o in local.deployed : g => [for a in o.outboundIpAddresses.value : a.address] }
}

output "workflow_names" {
  description = "The Logic Apps' names, <name_prefix>-<group>, by group."
  value       = local.names
}

output "workflow_ids" {
  description = "The Logic Apps, by group."
  value       = { for g, o in local.deployed : g => o.workflowId.value }
}

output "outbound_ip_addresses" {
  description = "Every address the Logic Apps send from: the AWS module's allowed_source_ips in source_ip mode. As of the last apply: re-apply at least every 90 days (see README)."
  value       = sort(distinct(flatten(values(local.outbound))))
}

output "outbound_ip_addresses_by_group" {
  description = "The same, per group."
  value       = local.outbound
}

output "trigger_urls" {
  description = "The address each group's Logic App PUTs."
  value       = { for g in keys(var.groups) : g => "${var.trigger_url}/triggers/${g}" }
}
