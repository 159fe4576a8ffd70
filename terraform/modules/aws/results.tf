# The results path: every worker's destinations, on success and on failure, send the
# destination record to the results queue (Lambda sends it with the worker's role), and
# an event source mapping hands the recorder batches of them. A batch the recorder
# cannot store comes back after the visibility timeout; a record that fails
# results_max_receive_count times goes to the results DLQ, and an alarm says so.

resource "aws_sqs_queue" "results" {
  name                       = local.names.results_queue
  visibility_timeout_seconds = local.results_visibility_timeout
  message_retention_seconds  = 345600 # 4 days
  sqs_managed_sse_enabled    = var.kms_key_arn == null
  kms_master_key_id          = var.kms_key_arn
  tags                       = local.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.results_dlq.arn
    maxReceiveCount     = var.results_max_receive_count
  })
}

resource "aws_sqs_queue" "results_dlq" {
  name                      = local.names.results_dlq
  message_retention_seconds = 1209600 # 14 days, SQS's maximum
  sqs_managed_sse_enabled   = var.kms_key_arn == null
  kms_master_key_id         = var.kms_key_arn
  tags                      = local.tags

  # Only the results queue may move its messages here.
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.arn.results_queue]
  })
}

resource "aws_lambda_event_source_mapping" "results" {
  event_source_arn                   = aws_sqs_queue.results.arn
  function_name                      = aws_lambda_function.core["recorder"].arn
  batch_size                         = var.results_batch_size
  maximum_batching_window_in_seconds = var.results_batching_window_seconds
  # The recorder hands back only the messages of runs it could not store.
  function_response_types = ["ReportBatchItemFailures"]
  tags                    = local.tags

  scaling_config {
    maximum_concurrency = var.recorder_max_concurrency
  }

  # Lambda checks at creation that the recorder's role may receive from the queue.
  depends_on = [aws_iam_role_policy.core]
}
