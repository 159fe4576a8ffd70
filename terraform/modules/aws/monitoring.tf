# What still fails after Lambda's retries, and alarms that say so: the functions' errors,
# the two DLQs, undelivered destination records, and what the sweeper finds.

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

resource "aws_cloudwatch_metric_alarm" "results_dlq_depth" {
  alarm_name          = "${local.names.results_dlq}-not-empty"
  alarm_description   = "Destination records the recorder could not store after ${var.results_max_receive_count} tries; read them from ${local.names.results_dlq}. Their runs end at their deadline, through the sweeper."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = local.names.results_dlq }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}

# Lambda counts a destination record it could not deliver (the queue was missing, or the
# worker's role could not send to it): that job's result is lost until the sweeper.
resource "aws_cloudwatch_metric_alarm" "destination_delivery_failures" {
  for_each            = var.workers
  alarm_name          = "${var.prefix}-${each.key}-destination-delivery-failures"
  alarm_description   = "${local.worker_names[each.key]} could not send results to ${local.names.results_queue}; check its role may sqs:SendMessage there."
  namespace           = "AWS/Lambda"
  metric_name         = "DestinationDeliveryFailures"
  dimensions          = { FunctionName = local.worker_names[each.key] }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}

# The sweeper reports these in CloudWatch embedded metric format, per ledger table.
locals {
  sweeper_alarms = {
    "overdue-runs"    = { metric = "OverdueRuns", about = "Runs passed their deadline with jobs still unrecorded: the sweeper sent those jobs once more, or recorded them as lost. `cronbridge runs list` shows which runs." }
    "lost-jobs"       = { metric = "LostJobs", about = "The sweeper recorded jobs as lost: no result came even after a resend. `cronbridge runs redrive` sends them again." }
    "missed-slots"    = { metric = "MissedSlots", about = "Slots of a scheduled group passed their slot tolerance with no trigger: the sweeper recorded them as missed runs. `cronbridge runs list` shows them; `cronbridge backfill` fires them." }
    "alerts-given-up" = { metric = "AlertsGivenUp", about = "The sweeper gave up delivering an alert after a day of retries: its webhook or topic did not take it. The sweeper's log names the alert and why." }
  }
}

resource "aws_cloudwatch_metric_alarm" "sweeper" {
  for_each            = local.sweeper_alarms
  alarm_name          = "${var.prefix}-${each.key}"
  alarm_description   = each.value.about
  namespace           = "cronbridge"
  metric_name         = each.value.metric
  dimensions          = { LedgerTable = local.names.ledger_table }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}

# Their addresses before the sweeper had more than two: an upgrade keeps the alarms.
moved {
  from = aws_cloudwatch_metric_alarm.overdue_runs
  to   = aws_cloudwatch_metric_alarm.sweeper["overdue-runs"]
}

moved {
  from = aws_cloudwatch_metric_alarm.lost_jobs
  to   = aws_cloudwatch_metric_alarm.sweeper["lost-jobs"]
}
