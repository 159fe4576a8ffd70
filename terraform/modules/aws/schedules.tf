# Optional EventBridge Scheduler schedules: AWS's own scheduler PUTs the trigger object
# through the universal S3 target, signed with a role, so they work in every auth_mode.

locals {
  scheduled_groups = distinct([for s in values(var.schedules) : s.group])

  # Scheduler replaces <aws.scheduler.scheduled-time> in the target's input text, but
  # jsonencode writes < and > as \u003c and \u003e, which Scheduler would not find. Group
  # and schedule names hold neither character, so undoing the escape is exact.
  schedule_inputs = {
    for name, s in var.schedules : name => replace(replace(jsonencode({
      Bucket = local.names.trigger_bucket
      Key    = "triggers/${s.group}"
      Body = replace(replace(jsonencode({
        scheduled_time = "<aws.scheduler.scheduled-time>"
        source         = "eventbridge-scheduler/${name}"
      }), "\\u003c", "<"), "\\u003e", ">")
    }), "\\u003c", "<"), "\\u003e", ">")
  }
}

resource "aws_iam_role" "scheduler" {
  count = length(var.schedules) > 0 ? 1 : 0
  name  = "${var.prefix}-scheduler"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "scheduler.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "scheduler" {
  count = length(var.schedules) > 0 ? 1 : 0
  name  = "cronbridge-scheduler"
  role  = aws_iam_role.scheduler[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "PutScheduledTriggers"
          Effect   = "Allow"
          Action   = "s3:PutObject"
          Resource = [for g in local.scheduled_groups : "${local.arn.trigger_bucket}/triggers/${g}"]
        },
        {
          Sid      = "UndeliveredToDlq"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = local.arn.dlq
        },
      ],
      local.kms_statements,
    )
  })
}

resource "aws_scheduler_schedule" "trigger" {
  # checkov:skip=CKV_AWS_297:The input holds only a bucket and key name; kms_key_arn applies your key when you set it.
  for_each                     = var.schedules
  kms_key_arn                  = var.kms_key_arn
  name                         = "${var.prefix}-${each.key}"
  schedule_expression          = each.value.expression
  schedule_expression_timezone = each.value.timezone
  state                        = each.value.enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:aws:scheduler:::aws-sdk:s3:putObject"
    role_arn = aws_iam_role.scheduler[0].arn
    # The scheduled time names the run, so a retried delivery opens no second run.
    input = local.schedule_inputs[each.key]

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 10
    }

    dead_letter_config {
      arn = aws_sqs_queue.dlq.arn
    }
  }
}
