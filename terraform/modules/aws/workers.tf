# Worker functions: every one sends each invocation's result, success or failure, to the
# results queue (results.tf), and Lambda retries a failed job as often as its group's
# max_attempts says.

locals {
  deployed_workers = { for name, w in var.workers : name => w if w.function_name == null }
  worker_names     = { for name, w in var.workers : name => coalesce(w.function_name, "${var.prefix}-${name}") }
  # Roles that need the worker policy: ours, and those the user names for their functions.
  worker_roles = merge(
    { for name, w in var.workers : name => w.role_name if w.role_name != null },
    { for name, w in local.deployed_workers : name => aws_iam_role.worker[name].name },
  )

  worker_statements = concat(
    [
      {
        # Lambda sends the destination records with the worker's own role.
        Sid      = "ResultsToQueue"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = local.arn.results_queue
      },
      {
        # publishers.worker claims each (run, job) in the ledger, so a duplicate runs once,
        # and as an sqs: target's consumer records each result itself.
        Sid      = "ClaimAndRecordJobs"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"]
        Resource = local.arn.ledger_table
      },
      {
        Sid      = "ReadLargePayloads"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = "${local.arn.state_bucket}/payloads/*"
      },
    ],
    local.kms_statements,
  )
}

resource "archive_file" "worker" {
  for_each    = local.deployed_workers
  type        = "zip"
  source_dir  = each.value.source_dir
  output_path = "${path.root}/.terraform/cronbridge/${var.prefix}-${each.key}.zip"
}

resource "aws_iam_role" "worker" {
  for_each           = local.deployed_workers
  name               = "${var.prefix}-${each.key}"
  assume_role_policy = local.lambda_assume_role
  tags               = local.tags
}

resource "aws_iam_role_policy" "worker_logs" {
  for_each = local.deployed_workers
  name     = "cronbridge-logs"
  role     = aws_iam_role.worker[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "${local.lambda_log_groups}/${var.prefix}-${each.key}:*"
    }]
  })
}

# One policy per role: workers may share a role_name, and two policies of one name on
# one role would overwrite each other. Prefixed, so deployments sharing a role keep apart.
resource "aws_iam_role_policy" "worker" {
  for_each = toset(values(local.worker_roles))
  name     = "${var.prefix}-worker"
  role     = each.value
  policy   = jsonencode({ Version = "2012-10-17", Statement = local.worker_statements })
}

resource "aws_cloudwatch_log_group" "worker" {
  # checkov:skip=CKV_AWS_338:Retention is log_retention_days (30 by default): job results live in the run ledger, not in logs. Raise it where policy requires.
  for_each          = local.deployed_workers
  name              = "/aws/lambda/${var.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_lambda_function" "worker" {
  # checkov:skip=CKV_AWS_50:The run ledger records each job's result; tracing is the worker author's choice.
  # checkov:skip=CKV_AWS_115:Set reserved_concurrency per worker in var.workers when a downstream needs protecting.
  # checkov:skip=CKV_AWS_116:Each result, failures included, goes to the results queue through destinations (and from there to the ledger); the ledger is the dead-letter record and `runs redrive` replays it.
  # checkov:skip=CKV_AWS_117:Whether a worker needs a VPC depends on what it calls; attach one to your own function if it does.
  # checkov:skip=CKV_AWS_173:Environment values are the worker author's; set kms_key_arn to encrypt them with your key.
  # checkov:skip=CKV_AWS_272:The code is zipped from source_dir at apply time by Terraform.
  for_each                       = local.deployed_workers
  function_name                  = "${var.prefix}-${each.key}"
  role                           = aws_iam_role.worker[each.key].arn
  runtime                        = each.value.runtime
  architectures                  = [each.value.architecture]
  handler                        = each.value.handler
  layers                         = [aws_lambda_layer_version.helper.arn]
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved_concurrency
  filename                       = archive_file.worker[each.key].output_path
  source_code_hash               = archive_file.worker[each.key].output_base64sha256
  kms_key_arn                    = var.kms_key_arn
  tags                           = local.tags

  environment {
    variables = merge(each.value.environment, { CRONBRIDGE_LEDGER_TABLE = local.names.ledger_table })
  }

  depends_on = [aws_cloudwatch_log_group.worker, aws_iam_role_policy.worker_logs, aws_iam_role_policy.worker]
}

resource "aws_lambda_function_event_invoke_config" "worker" {
  for_each                     = var.workers
  function_name                = local.worker_names[each.key]
  maximum_retry_attempts       = each.value.max_attempts - 1
  maximum_event_age_in_seconds = var.worker_event_age_seconds

  destination_config {
    on_success {
      destination = aws_sqs_queue.results.arn
    }
    on_failure {
      destination = aws_sqs_queue.results.arn
    }
  }

  depends_on = [aws_lambda_function.worker, aws_iam_role_policy.worker]
}
