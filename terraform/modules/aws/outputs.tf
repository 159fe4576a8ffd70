# Everything `cronbridge config from-terraform` reads (bridge/cli/aws.py), and the
# trigger address for schedulers.

output "state_bucket" {
  description = "The registry and large payloads."
  value       = aws_s3_bucket.state.bucket
}

output "trigger_bucket" {
  description = "Schedulers PUT triggers/<group> here."
  value       = aws_s3_bucket.trigger.bucket
}

output "ledger_table" {
  description = "The run ledger."
  value       = aws_dynamodb_table.ledger.name
}

output "publisher_function" {
  description = "The publisher; `runs redrive` invokes it."
  value       = aws_lambda_function.core["publisher"].function_name
}

output "dispatcher_function" {
  value = aws_lambda_function.core["dispatcher"].function_name
}

output "recorder_function" {
  description = "Records the workers' results, in batches from the results queue. Not a destination: point destinations at results_queue_arn."
  value       = aws_lambda_function.core["recorder"].function_name
}

output "sweeper_function" {
  description = "Ends runs past their deadline, on sweep_schedule; `cronbridge doctor` checks its schedule."
  value       = aws_lambda_function.core["sweeper"].function_name
}

output "results_queue_url" {
  description = "The results queue the recorder drains; `cronbridge doctor` checks it."
  value       = aws_sqs_queue.results.url
}

output "results_queue_arn" {
  description = "For workers deployed outside this module: point both destinations here."
  value       = aws_sqs_queue.results.arn
}

output "event_age_seconds" {
  description = "The workers' maximum event age, which the runs' deadlines count on."
  value       = var.worker_event_age_seconds
}

output "recording_delay_seconds" {
  description = "The results queue's batching window plus its visibility timeout: the longest a result may wait to be recorded."
  value       = local.recording_delay
}

output "region" {
  value = local.region
}

output "auth_mode" {
  value = var.auth_mode
}

output "trigger_url" {
  description = "Schedulers PUT <trigger_url>/triggers/<group>: with the secret User-Agent (user_agent and source_ip modes), or signed (iam mode)."
  value       = "https://${local.names.trigger_bucket}.s3.${local.region}.amazonaws.com"
}

output "user_agent_secret" {
  description = "The User-Agent schedulers send. Read it with `terraform output -raw user_agent_secret`."
  value       = local.user_agent_secret
  sensitive   = true
}

output "dlq_url" {
  description = "Events that failed after Lambda's retries."
  value       = aws_sqs_queue.dlq.url
}

output "results_dlq_url" {
  description = "Destination records the recorder could not store after results_max_receive_count tries."
  value       = aws_sqs_queue.results_dlq.url
}

output "trigger_bucket_policy" {
  description = "The trigger bucket's policy document, for review. Sensitive: its condition holds the User-Agent secret."
  value       = aws_s3_bucket_policy.trigger.policy
  sensitive   = true
}

output "worker_helper_layer_arn" {
  description = "The worker helper as a Lambda layer (Python 3.11+, any architecture): attach it to workers deployed elsewhere to `from publishers.worker import cronbridge_worker`. The module attaches it to the workers it deploys."
  value       = aws_lambda_layer_version.helper.arn
}

output "alerts_topic_arn" {
  description = "The alerts topic: `cronbridge alerts add --sns-topic <this>` has the sweeper publish run events to it; alert_email is subscribed to it."
  value       = aws_sns_topic.alerts.arn
}
