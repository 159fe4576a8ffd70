# A paced run's lanes wait here between wakes. A lane hands over a few jobs (its share of
# the group's max_rate for about a second), then sends itself to this queue with that
# delay; the mapping invokes the publisher with it when it is due. Nothing sleeps in a
# Lambda, and a paced run holds no publisher between wakes.

locals {
  # SQS requires a visibility timeout at least the function's: the publisher's 900 s,
  # with a minute to spare. A wake that fails comes back after it.
  pacing_visibility_timeout = local.core.publisher.timeout + 60
}

resource "aws_sqs_queue" "pacing" {
  name                       = local.names.pacing_queue
  visibility_timeout_seconds = local.pacing_visibility_timeout
  message_retention_seconds  = 345600 # 4 days
  sqs_managed_sse_enabled    = var.kms_key_arn == null
  kms_master_key_id          = var.kms_key_arn
  tags                       = local.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_lambda_event_source_mapping" "pacing" {
  event_source_arn = aws_sqs_queue.pacing.arn
  function_name    = aws_lambda_function.core["publisher"].arn
  batch_size       = 10
  # The publisher hands back only the lanes that failed.
  function_response_types = ["ReportBatchItemFailures"]
  tags                    = local.tags

  scaling_config {
    maximum_concurrency = var.paced_wakes_max_concurrency
  }

  # Lambda checks at creation that the publisher's role may receive from the queue.
  depends_on = [aws_iam_role_policy.core]
}
