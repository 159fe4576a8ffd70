# What `cronbridge config from-terraform terraform/examples/complete` reads.

output "state_bucket" {
  value = module.cronbridge.state_bucket
}

output "trigger_bucket" {
  value = module.cronbridge.trigger_bucket
}

output "ledger_table" {
  value = module.cronbridge.ledger_table
}

output "publisher_function" {
  value = module.cronbridge.publisher_function
}

output "dispatcher_function" {
  value = module.cronbridge.dispatcher_function
}

output "recorder_function" {
  value = module.cronbridge.recorder_function
}

output "sweeper_function" {
  value = module.cronbridge.sweeper_function
}

output "results_queue_url" {
  value = module.cronbridge.results_queue_url
}

output "results_queue_arn" {
  description = "For workers deployed outside this module: point both destinations here."
  value       = module.cronbridge.results_queue_arn
}

output "event_age_seconds" {
  value = module.cronbridge.event_age_seconds
}

output "recording_delay_seconds" {
  value = module.cronbridge.recording_delay_seconds
}

output "region" {
  value = module.cronbridge.region
}

output "auth_mode" {
  value = module.cronbridge.auth_mode
}

output "trigger_url" {
  value = module.cronbridge.trigger_url
}

output "user_agent_secret" {
  value     = module.cronbridge.user_agent_secret
  sensitive = true
}

output "alerts_topic_arn" {
  description = "For `cronbridge alerts add --sns-topic`: the sweeper may publish to this topic, and alert_email is subscribed to it."
  value       = module.cronbridge.alerts_topic_arn
}

output "logic_app_outbound_ip_addresses" {
  description = "The addresses the trigger bucket admits in source_ip mode."
  value       = module.schedules.outbound_ip_addresses
}

output "logic_app_ids" {
  value = module.schedules.workflow_ids
}
