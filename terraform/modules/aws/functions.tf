# The dispatcher, publisher, recorder and sweeper: one zip of bridge/ and publishers/,
# built by the archive provider from this repository's sources at plan time.

locals {
  code_root = abspath(coalesce(var.code_root, "${path.module}/../../.."))
  code_files = sort(setunion(
    fileset(local.code_root, "bridge/**/*.py"),
    fileset(local.code_root, "publishers/**/*.py"),
  ))

  # The recorder reads batches of up to 6 MB of destination records from the results
  # queue; the sweeper ends overdue runs, on a schedule (sweeper.tf).
  core = {
    dispatcher = { handler = "bridge.lambdas.dispatcher.handler", memory = 256, timeout = 60, reserved = var.dispatcher_reserved_concurrency }
    publisher  = { handler = "publishers.lambdas.publisher.handler", memory = var.publisher_memory_mb, timeout = 900, reserved = null }
    recorder   = { handler = "bridge.lambdas.recorder.handler", memory = 512, timeout = 60, reserved = var.recorder_reserved_concurrency }
    sweeper    = { handler = "bridge.lambdas.sweeper.handler", memory = 512, timeout = 300, reserved = null }
  }
}

resource "archive_file" "code" {
  type        = "zip"
  output_path = "${path.root}/.terraform/cronbridge/${var.prefix}-lambda.zip"

  dynamic "source" {
    for_each = local.code_files
    content {
      content  = file("${local.code_root}/${source.value}")
      filename = source.value
    }
  }
}

resource "aws_cloudwatch_log_group" "core" {
  # checkov:skip=CKV_AWS_338:Retention is log_retention_days (30 by default): job results live in the run ledger, not in logs. Raise it where policy requires.
  for_each          = local.core
  name              = "/aws/lambda/${local.names[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_lambda_function" "core" {
  # checkov:skip=CKV_AWS_50:The run ledger records every job of every run; X-Ray on a million-invoke fan-out would cost more than the work.
  # checkov:skip=CKV_AWS_115:Reserved concurrency would cap the fan-out tree below the account limit it is built to use; the recorder is capped by its mapping's maximum_concurrency instead, and throttles are retried with backoff.
  # checkov:skip=CKV_AWS_116:Failed asynchronous events go to the DLQ through an on-failure destination (aws_lambda_function_event_invoke_config.core), which also records the error; the recorder's batches that keep failing go to the results DLQ through the results queue's redrive policy.
  # checkov:skip=CKV_AWS_117:The functions call only AWS APIs; a VPC would add NAT cost and nothing to keep out.
  # checkov:skip=CKV_AWS_173:The environment holds only resource names, no secrets; set kms_key_arn to encrypt it with your key.
  # checkov:skip=CKV_AWS_272:The code is zipped from this repository at apply time by Terraform, not fetched from a registry.
  for_each         = local.core
  function_name    = local.names[each.key]
  role             = aws_iam_role.core[each.key].arn
  runtime          = "python3.12"
  architectures    = ["arm64"]
  handler          = each.value.handler
  memory_size      = each.value.memory
  timeout          = each.value.timeout
  filename         = archive_file.code.output_path
  source_code_hash = archive_file.code.output_base64sha256
  kms_key_arn      = var.kms_key_arn
  tags             = local.tags

  # Null (the default) reserves nothing: see dispatcher_reserved_concurrency.
  reserved_concurrent_executions = each.value.reserved

  environment {
    variables = local.function_environment[each.key]
  }

  depends_on = [aws_cloudwatch_log_group.core, aws_iam_role_policy.core]
}

# Lambda retries a failed asynchronous event twice; what still fails lands in the DLQ.
resource "aws_lambda_function_event_invoke_config" "core" {
  for_each                     = local.core
  function_name                = aws_lambda_function.core[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 21600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq.arn
    }
  }
}

# The publisher hands the rest of a part to an invocation of itself near its deadline:
# a chain Lambda's recursive loop detection would stop after 16 hops.
resource "aws_lambda_function_recursion_config" "publisher" {
  function_name  = aws_lambda_function.core["publisher"].function_name
  recursive_loop = "Allow"
}

# The worker helper (publishers.worker) and what it imports, as a layer: a worker the
# module deploys from source_dir imports `from publishers.worker import cronbridge_worker`
# from it; workers deployed elsewhere can attach it too (the worker_helper_layer_arn
# output). Pure Python: any architecture, Python 3.11 and up.
resource "archive_file" "helper_layer" {
  type        = "zip"
  output_path = "${path.root}/.terraform/cronbridge/${var.prefix}-helper-layer.zip"

  dynamic "source" {
    for_each = local.code_files
    content {
      content  = file("${local.code_root}/${source.value}")
      filename = "python/${source.value}"
    }
  }
}

resource "aws_lambda_layer_version" "helper" {
  layer_name               = "${var.prefix}-worker-helper"
  description              = "cronbridge's worker helper: from publishers.worker import cronbridge_worker"
  filename                 = archive_file.helper_layer.output_path
  source_code_hash         = archive_file.helper_layer.output_base64sha256
  compatible_runtimes      = ["python3.11", "python3.12", "python3.13"]
  compatible_architectures = ["arm64", "x86_64"]
}
