data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

resource "random_password" "user_agent" {
  length  = 40
  special = false
}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region

  names = {
    trigger_bucket = "${var.prefix}-triggers"
    state_bucket   = "${var.prefix}-state"
    ledger_table   = "${var.prefix}-ledger"
    dispatcher     = "${var.prefix}-dispatcher"
    publisher      = "${var.prefix}-publisher"
    recorder       = "${var.prefix}-recorder"
    sweeper        = "${var.prefix}-sweeper"
    sweep_rule     = "${var.prefix}-sweep"
    dlq            = "${var.prefix}-dlq"
    results_queue  = "${var.prefix}-results"
    results_dlq    = "${var.prefix}-results-dlq"
    pacing_queue   = "${var.prefix}-pacing"
    alerts_topic   = "${var.prefix}-alerts"
  }

  # ARNs are built from names, so policies are known at plan time and need no cycles.
  arn = {
    trigger_bucket = "arn:${local.partition}:s3:::${local.names.trigger_bucket}"
    state_bucket   = "arn:${local.partition}:s3:::${local.names.state_bucket}"
    ledger_table   = "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${local.names.ledger_table}"
    dispatcher     = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${local.names.dispatcher}"
    publisher      = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${local.names.publisher}"
    recorder       = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${local.names.recorder}"
    sweeper        = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${local.names.sweeper}"
    sweep_rule     = "arn:${local.partition}:events:${local.region}:${local.account}:rule/${local.names.sweep_rule}"
    dlq            = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.names.dlq}"
    results_queue  = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.names.results_queue}"
    pacing_queue   = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.names.pacing_queue}"
    alerts_topic   = "arn:${local.partition}:sns:${local.region}:${local.account}:${local.names.alerts_topic}"
  }

  user_agent_secret = coalesce(var.user_agent_secret, random_password.user_agent.result)
  user_agents       = compact([local.user_agent_secret, var.previous_user_agent_secret])

  # SQS event sources: AWS recommends a visibility timeout of six times the function's
  # timeout, so a batch still being recorded is not delivered again.
  results_visibility_timeout = 6 * local.core.recorder.timeout
  # The longest a destination record may wait before the recorder has counted it: the
  # mapping's batching window, then a failed batch's return after the visibility timeout.
  recording_delay = var.results_batching_window_seconds + local.results_visibility_timeout

  # The environment the handlers read (bridge/aws/runtime.py); the event age and the
  # recording delay set the runs' deadlines (bridge/domain/deadlines.py). The pacing
  # queue's URL is built like the ARNs, so it too is known at plan time.
  environment = {
    CRONBRIDGE_STATE_BUCKET            = local.names.state_bucket
    CRONBRIDGE_TRIGGER_BUCKET          = local.names.trigger_bucket
    CRONBRIDGE_LEDGER_TABLE            = local.names.ledger_table
    CRONBRIDGE_PUBLISHER_FUNCTION      = local.names.publisher
    CRONBRIDGE_EVENT_AGE_SECONDS       = tostring(var.worker_event_age_seconds)
    CRONBRIDGE_RECORDING_DELAY_SECONDS = tostring(local.recording_delay)
    CRONBRIDGE_PACING_QUEUE            = "https://sqs.${local.region}.${data.aws_partition.current.dns_suffix}/${local.account}/${local.names.pacing_queue}"
  }
  # What only a function needs: the sweeper sends the alerts, whose messages link to
  # the run in `cronbridge ui` at console_url.
  function_environment = {
    for name in keys(local.core) : name => name == "sweeper" ? merge(local.environment, {
      CRONBRIDGE_CONSOLE_URL = var.console_url
    }) : local.environment
  }

  lambda_log_groups = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda"

  # With a customer managed key, every role may use it: S3 and SQS writes need a data
  # key, reads need to decrypt (the workers' destinations write the results queue).
  kms_statements = var.kms_key_arn == null ? [] : [
    {
      Sid      = "UseKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource = var.kms_key_arn
    },
  ]

  tags = merge({ "cronbridge:deployment" = var.prefix }, var.tags)
}
