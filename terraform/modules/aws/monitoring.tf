# What still fails after Lambda's retries, and alarms that say so.

resource "aws_sqs_queue" "dlq" {
  name                      = local.names.dlq
  message_retention_seconds = 1209600 # 14 days, SQS's maximum
  sqs_managed_sse_enabled   = var.kms_key_arn == null
  kms_master_key_id         = var.kms_key_arn
  tags                      = local.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each            = local.core
  alarm_name          = "${local.names[each.key]}-errors"
  alarm_description   = "The ${each.key} function failed; its events are retried, then sent to ${local.names.dlq}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = local.names[each.key] }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${local.names.dlq}-not-empty"
  alarm_description   = "Events gave up after Lambda's retries; read them from ${local.names.dlq}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = local.names.dlq }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}
