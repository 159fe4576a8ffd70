# One role per function, each allowed exactly what its code calls:
#   dispatcher: read the trigger object and the registry, open runs, invoke the publisher;
#   publisher:  read the registry, keep payloads, mark parts and record http: answers,
#               invoke itself and the workers, send to the worker queues, send and
#               take back paced lanes' wakes through the pacing queue;
#   recorder:   drain the results queue into the ledger, keeping the event of a run
#               that ends failed;
#   sweeper:    read the registry and the alert rules, end overdue runs, record missed
#               slots and their events, invoke the publisher to resend, publish alerts
#               to the alerts topic.
# Each may also write its own logs and send its failed events to the DLQ. Only the CLI
# queries the ledger's by-group index, so no function is allowed it.
# tests/terraform/test_role_policies.py checks every call the functions make in the
# sandbox against these policies as planned, and names every action no call uses.

locals {
  lambda_assume_role = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })

  worker_arns = [
    for name, w in var.workers :
    "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${coalesce(w.function_name, "${var.prefix}-${name}")}"
  ]

  common_statements = {
    for name in keys(local.core) : name => concat(
      [
        {
          Sid      = "OwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${local.lambda_log_groups}/${local.names[name]}:*"
        },
        {
          Sid      = "FailedEventsToDlq"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = local.arn.dlq
        },
      ],
      local.kms_statements,
    )
  }

  read_registry = [
    {
      Sid      = "ReadRegistry"
      Effect   = "Allow"
      Action   = "s3:GetObject"
      Resource = "${local.arn.state_bucket}/groups/*"
    },
    {
      # Without it a missing key reads as AccessDenied instead of NoSuchKey.
      Sid       = "ListRegistry"
      Effect    = "Allow"
      Action    = "s3:ListBucket"
      Resource  = local.arn.state_bucket
      Condition = { StringLike = { "s3:prefix" = ["groups/*"] } }
    },
  ]

  role_statements = {
    dispatcher = concat(local.read_registry, [
      {
        Sid      = "ReadTriggers"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = "${local.arn.trigger_bucket}/triggers/*"
      },
      {
        # TransactWriteItems is authorised as the actions of the items it holds.
        Sid      = "OpenRuns"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]
        Resource = local.arn.ledger_table
      },
      {
        Sid      = "InvokePublisher"
        Effect   = "Allow"
        Action   = "lambda:InvokeFunction"
        Resource = local.arn.publisher
      },
    ])
    publisher = concat(local.read_registry, [
      {
        Sid      = "KeepLargePayloads"
        Effect   = "Allow"
        Action   = "s3:PutObject"
        Resource = "${local.arn.state_bucket}/payloads/*"
      },
      {
        # http: targets' answers are recorded as result chunks (BatchWriteItem); the last
        # of a run ends it, a TransactWriteItems of an Update and a Delete.
        Sid      = "TrackParts"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"]
        Resource = local.arn.ledger_table
      },
      {
        Sid      = "InvokeSelfAndWorkers"
        Effect   = "Allow"
        Action   = "lambda:InvokeFunction"
        Resource = flatten([for arn in concat([local.arn.publisher], local.worker_arns) : [arn, "${arn}:*"]])
      },
      {
        # A paced lane's next wake is a delayed message; the queue's mapping hands it
        # back, and needs of the role what any SQS event source does.
        Sid      = "PaceLanes"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        Resource = local.arn.pacing_queue
      },
      ], length(var.worker_queue_arns) == 0 ? [] : [
      {
        Sid      = "SendToWorkerQueues"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = var.worker_queue_arns
      },
    ])
    recorder = [
      {
        # What the event source mapping needs of its function's role. A batch's failed
        # messages come back when their visibility timeout ends; nothing changes it.
        Sid      = "DrainResultsQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        Resource = local.arn.results_queue
      },
      {
        # A run's end is a TransactWriteItems of an Update and a Delete, and of a Put of
        # its event (bridge/domain/events.py) when it ends failed.
        Sid      = "RecordResults"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"]
        Resource = local.arn.ledger_table
      },
    ]
    sweeper = concat(local.read_registry, [
      {
        # Resend sets and lost jobs' results are batch writes; a run's end or cancel is a
        # TransactWriteItems of an Update and a Delete. A missed slot's run and the
        # events it keeps (a slot missed, a run lost or stuck) are Puts, in the
        # transaction that records what they report.
        Sid      = "EndOverdueRuns"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"]
        Resource = local.arn.ledger_table
      },
      {
        Sid      = "InvokePublisher"
        Effect   = "Allow"
        Action   = "lambda:InvokeFunction"
        Resource = local.arn.publisher
      },
      {
        # The alert rules `cronbridge alerts add` writes, next to the registry.
        Sid      = "ReadAlertRules"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = "${local.arn.state_bucket}/alerts/*"
      },
      {
        # As for the registry: with it, no rules reads as NoSuchKey, not AccessDenied.
        Sid       = "ListAlertRules"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = local.arn.state_bucket
        Condition = { StringLike = { "s3:prefix" = ["alerts/*"] } }
      },
      {
        # Alerts added with --sns-topic may name this topic only.
        Sid      = "PublishAlerts"
        Effect   = "Allow"
        Action   = "sns:Publish"
        Resource = local.arn.alerts_topic
      },
    ])
  }
}

resource "aws_iam_role" "core" {
  for_each           = local.core
  name               = local.names[each.key]
  assume_role_policy = local.lambda_assume_role
  tags               = local.tags
}

resource "aws_iam_role_policy" "core" {
  for_each = local.core
  name     = "cronbridge-${each.key}"
  role     = aws_iam_role.core[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.common_statements[each.key], local.role_statements[each.key])
  })
}
