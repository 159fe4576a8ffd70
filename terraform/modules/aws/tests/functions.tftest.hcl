# The functions, the one notification, the workers' retries and every role's rights.
# The results path (queue, mapping, destinations), the sweeper and the alarms are in
# results.tftest.hcl.

mock_provider "aws" {
  source = "../../testing/aws"
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
}
mock_provider "archive" {}
mock_provider "random" {}

variables {
  prefix    = "acme-cb"
  auth_mode = "iam"
  workers = {
    resize = { function_name = "image-resize", role_name = "image-resize-role", max_attempts = 2 }
    report = { source_dir = "./tests", handler = "report.handler", max_attempts = 1, reserved_concurrency = 50 }
  }
  worker_queue_arns = ["arn:aws:sqs:eu-west-1:123456789012:batch-jobs"]
}

run "one_notification_sends_triggers_to_the_dispatcher" {
  assert {
    condition     = length(aws_s3_bucket_notification.trigger.lambda_function) == 1 && length(aws_s3_bucket_notification.trigger.queue) == 0 && length(aws_s3_bucket_notification.trigger.topic) == 0
    error_message = "the bucket has one notification, to one function"
  }
  assert {
    condition     = aws_s3_bucket_notification.trigger.lambda_function[0].lambda_function_arn == aws_lambda_function.core["dispatcher"].arn
    error_message = "the notification targets the dispatcher"
  }
  assert {
    condition     = aws_s3_bucket_notification.trigger.lambda_function[0].filter_prefix == "triggers/" && aws_s3_bucket_notification.trigger.lambda_function[0].events == toset(["s3:ObjectCreated:*"])
    error_message = "only objects created under triggers/ start a dispatch"
  }
  assert {
    condition     = aws_lambda_permission.trigger_bucket.principal == "s3.amazonaws.com" && aws_lambda_permission.trigger_bucket.source_arn == "arn:aws:s3:::acme-cb-triggers" && aws_lambda_permission.trigger_bucket.source_account == "123456789012"
    error_message = "only this bucket, in this account, may invoke the dispatcher"
  }
}

run "functions_run_the_handlers_with_the_deployment_environment" {
  command = plan

  assert {
    condition = { for k, f in aws_lambda_function.core : k => f.handler } == {
      dispatcher = "bridge.lambdas.dispatcher.handler"
      publisher  = "publishers.lambdas.publisher.handler"
      recorder   = "bridge.lambdas.recorder.handler"
      sweeper    = "bridge.lambdas.sweeper.handler"
    }
    error_message = "the handler paths are the ones the AWS runtime fixes"
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.core : f.runtime == "python3.12" && f.architectures == tolist(["arm64"])])
    error_message = "Python 3.12 on arm64"
  }
  assert {
    condition = alltrue([for k, f in aws_lambda_function.core : f.environment[0].variables == tomap(merge(k == "sweeper" ? { CRONBRIDGE_CONSOLE_URL = "http://127.0.0.1:8790" } : {}, {
      CRONBRIDGE_STATE_BUCKET            = "acme-cb-state"
      CRONBRIDGE_TRIGGER_BUCKET          = "acme-cb-triggers"
      CRONBRIDGE_LEDGER_TABLE            = "acme-cb-ledger"
      CRONBRIDGE_PUBLISHER_FUNCTION      = "acme-cb-publisher"
      CRONBRIDGE_EVENT_AGE_SECONDS       = "21600"
      CRONBRIDGE_RECORDING_DELAY_SECONDS = "362"
      CRONBRIDGE_PACING_QUEUE            = "https://sqs.eu-west-1.amazonaws.com/123456789012/acme-cb-pacing"
    }))])
    error_message = "every function gets the variables bridge/aws/runtime.py reads, and the sweeper the console's address for its alerts' links; the recording delay is the 5 s window plus the 360 s visibility timeout"
  }
  assert {
    condition     = aws_lambda_function.core["publisher"].timeout == 900
    error_message = "a publisher hands its part to a continuation before Lambda's 15-minute limit"
  }
  assert {
    condition = { for k, f in aws_lambda_function.core : k => [f.memory_size, f.timeout] if k != "publisher" } == {
      dispatcher = [256, 60]
      recorder   = [512, 60]
      sweeper    = [512, 300]
    }
    error_message = "the recorder has room for a 6 MB batch; the sweeper has five minutes"
  }
  assert {
    condition     = aws_iam_role.core["sweeper"].name == "acme-cb-sweeper" && aws_cloudwatch_log_group.core["sweeper"].name == "/aws/lambda/acme-cb-sweeper"
    error_message = "the sweeper has its own role and log group, like every core function"
  }
}

run "workers_retry_as_their_group_says" {
  assert {
    condition = { for k, c in aws_lambda_function_event_invoke_config.worker : k => [c.function_name, c.maximum_retry_attempts, c.maximum_event_age_in_seconds] } == {
      resize = ["image-resize", 1, 21600]
      report = ["acme-cb-report", 0, 21600]
    }
    error_message = "max_attempts - 1 retries, on the user's function or the one deployed here, for up to worker_event_age_seconds"
  }
  assert {
    condition     = aws_lambda_function.worker["report"].reserved_concurrent_executions == 50 && !contains(keys(aws_lambda_function.worker), "resize")
    error_message = "the module deploys only source_dir workers, with their reserved concurrency"
  }
  assert {
    condition     = toset(values(aws_iam_role_policy.worker)[*].role) == toset(["image-resize-role", aws_iam_role.worker["report"].name])
    error_message = "both workers' roles get the worker policy"
  }
}

run "core_functions_send_what_still_fails_to_the_dlq" {
  assert {
    condition = alltrue([for c in aws_lambda_function_event_invoke_config.core :
    c.maximum_retry_attempts == 2 && c.destination_config[0].on_failure[0].destination == aws_sqs_queue.dlq.arn])
    error_message = "two retries, then the DLQ"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.dlq_depth.dimensions == tomap({ QueueName = "acme-cb-dlq" }) && toset(keys(aws_cloudwatch_metric_alarm.errors)) == toset(["dispatcher", "publisher", "recorder", "sweeper"])
    error_message = "alarms watch the DLQ and every function's errors"
  }
}

run "each_role_is_allowed_only_what_its_code_calls" {
  command = plan

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.core["dispatcher"].policy).Statement : s.Resource if s.Action == "lambda:InvokeFunction"] == [
      "arn:aws:lambda:eu-west-1:123456789012:function:acme-cb-publisher"
    ]
    error_message = "the dispatcher may invoke the publisher and nothing else"
  }
  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.core["publisher"].policy).Statement : s.Resource if s.Action == "lambda:InvokeFunction"])) == toset([
      "arn:aws:lambda:eu-west-1:123456789012:function:acme-cb-publisher",
      "arn:aws:lambda:eu-west-1:123456789012:function:acme-cb-publisher:*",
      "arn:aws:lambda:eu-west-1:123456789012:function:image-resize",
      "arn:aws:lambda:eu-west-1:123456789012:function:image-resize:*",
      "arn:aws:lambda:eu-west-1:123456789012:function:acme-cb-report",
      "arn:aws:lambda:eu-west-1:123456789012:function:acme-cb-report:*",
    ])
    error_message = "the publisher may invoke itself and the registered workers (any version or alias) only"
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.core["publisher"].policy).Statement : s.Resource if s.Action == "sqs:SendMessage" && s.Sid == "SendToWorkerQueues"] == [
      ["arn:aws:sqs:eu-west-1:123456789012:batch-jobs"]
    ]
    error_message = "the publisher may send only to the listed worker queues"
  }
  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.core["recorder"].policy).Statement : s.Action])) == toset([
      "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem",
    ])
    error_message = "the recorder drains the results queue into the ledger (plus its own logs and failed events)"
  }
  assert {
    condition = { for name, p in aws_iam_role_policy.core : name => toset(flatten([for s in jsondecode(p.policy).Statement : s.Action if s.Resource == "arn:aws:dynamodb:eu-west-1:123456789012:table/acme-cb-ledger"])) } == {
      dispatcher = toset(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"])
      publisher  = toset(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"])
      recorder   = toset(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"])
      sweeper    = toset(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"])
    }
    error_message = "each function may make exactly the ledger calls its code makes (the recorder's and the sweeper's transactions put run events)"
  }
  assert {
    condition     = !anytrue([for p in concat(values(aws_iam_role_policy.core), values(aws_iam_role_policy.worker)) : strcontains(p.policy, "/index/")])
    error_message = "only the CLI queries the by-group index: no function or worker is allowed it"
  }
  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.core["sweeper"].policy).Statement : [for a in flatten([s.Action]) : "${a} ${join(",", flatten([s.Resource]))}"] if !contains(["OwnLogs", "FailedEventsToDlq", "EndOverdueRuns"], s.Sid)])) == toset([
      "s3:GetObject arn:aws:s3:::acme-cb-state/groups/*",
      "s3:GetObject arn:aws:s3:::acme-cb-state/alerts/*",
      "s3:ListBucket arn:aws:s3:::acme-cb-state",
      "lambda:InvokeFunction arn:aws:lambda:eu-west-1:123456789012:function:acme-cb-publisher",
      "sns:Publish arn:aws:sns:eu-west-1:123456789012:acme-cb-alerts",
    ])
    error_message = "besides the ledger, the sweeper reads the registry and the alert rules, invokes the publisher and publishes to the alerts topic, nothing else"
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.core["sweeper"].policy).Statement : s.Sid => s.Condition.StringLike["s3:prefix"] if s.Action == "s3:ListBucket" } == {
      ListRegistry   = ["groups/*"]
      ListAlertRules = ["alerts/*"]
    }
    error_message = "the sweeper may list the registry and the alert rules, and no other prefix of the state bucket"
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.core["sweeper"].policy).Statement : s.Resource if s.Action == "sns:Publish"] == [
      "arn:aws:sns:eu-west-1:123456789012:acme-cb-alerts"
    ]
    error_message = "the sweeper may publish to the alerts topic only"
  }
  assert {
    condition     = !anytrue([for name, p in aws_iam_role_policy.core : strcontains(p.policy, "sns:") if name != "sweeper"]) && !anytrue([for p in aws_iam_role_policy.worker : strcontains(p.policy, "sns:")])
    error_message = "only the sweeper sends alerts"
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.core["dispatcher"].policy).Statement : s.Resource if s.Sid == "ReadTriggers"] == ["arn:aws:s3:::acme-cb-triggers/triggers/*"]
    error_message = "the dispatcher reads trigger objects and never writes the trigger bucket"
  }
  assert {
    condition     = !anytrue([for p in aws_iam_role_policy.core : strcontains(p.policy, "s3:PutObject") && strcontains(p.policy, "acme-cb-triggers/")])
    error_message = "no function may write the trigger bucket (that would loop through the notification)"
  }
}

run "the_ledger_is_the_table_the_code_expects" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.ledger.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.ledger.hash_key == "pk" && aws_dynamodb_table.ledger.range_key == "sk"
    error_message = "on-demand, keyed by pk and sk"
  }
  assert {
    condition     = one(aws_dynamodb_table.ledger.global_secondary_index).name == "by-group" && one(aws_dynamodb_table.ledger.global_secondary_index).hash_key == "grp" && one(aws_dynamodb_table.ledger.global_secondary_index).range_key == "opened_key"
    error_message = "the by-group index lists a group's runs"
  }
  assert {
    condition     = aws_dynamodb_table.ledger.ttl[0].attribute_name == "expires_at" && aws_dynamodb_table.ledger.ttl[0].enabled && aws_dynamodb_table.ledger.point_in_time_recovery[0].enabled
    error_message = "runs expire by TTL; the table can be recovered to a point in time"
  }
}

run "schedules_put_the_trigger_signed_with_the_scheduled_time" {
  command = plan
  variables {
    schedules = {
      nightly = { group = "nightly", expression = "cron(0 3 * * ? *)", timezone = "Asia/Tokyo" }
    }
  }

  assert {
    condition     = aws_scheduler_schedule.trigger["nightly"].target[0].arn == "arn:aws:scheduler:::aws-sdk:s3:putObject"
    error_message = "the universal S3 target PUTs the object"
  }
  assert {
    condition     = strcontains(aws_scheduler_schedule.trigger["nightly"].target[0].input, "<aws.scheduler.scheduled-time>")
    error_message = "the context attribute appears literally, where Scheduler looks for it"
  }
  assert {
    condition = jsondecode(aws_scheduler_schedule.trigger["nightly"].target[0].input) == {
      Bucket = "acme-cb-triggers"
      Key    = "triggers/nightly"
      Body   = "{\"scheduled_time\":\"<aws.scheduler.scheduled-time>\",\"source\":\"eventbridge-scheduler/nightly\"}"
    }
    error_message = "the body carries the scheduled time, so a retried delivery opens no second run"
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement : s.Resource if s.Action == "s3:PutObject"] == [
      ["arn:aws:s3:::acme-cb-triggers/triggers/nightly"]
    ]
    error_message = "the scheduler's role may PUT its groups' triggers only"
  }
}

run "with_a_customer_key_every_role_may_use_it" {
  command = plan
  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    schedules   = { nightly = { group = "nightly", expression = "rate(1 hour)" } }
  }

  assert {
    condition = alltrue([for p in concat(values(aws_iam_role_policy.core), values(aws_iam_role_policy.worker), aws_iam_role_policy.scheduler) :
      contains([for s in jsondecode(p.policy).Statement : s.Resource if s.Sid == "UseKey"], "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    ])
    error_message = "the functions, the workers and the scheduler may all use the key"
  }
}

run "deployed_workers_get_the_helper_layer_and_their_architecture" {
  command = plan
  variables {
    workers = {
      report = { source_dir = "./tests", handler = "report.handler" }
      native = { source_dir = "./tests", handler = "native.handler", architecture = "x86_64" }
    }
  }

  assert {
    condition     = alltrue([for w in aws_lambda_function.worker : length(w.layers) == 1])
    error_message = "every worker the module deploys can import publishers.worker from the layer"
  }
  assert {
    condition     = aws_lambda_function.worker["native"].architectures[0] == "x86_64" && aws_lambda_function.worker["report"].architectures[0] == "arm64"
    error_message = "a worker's architecture is its own (arm64 unless it says)"
  }
  assert {
    condition     = aws_lambda_layer_version.helper.compatible_architectures == toset(["arm64", "x86_64"]) && contains(aws_lambda_layer_version.helper.compatible_runtimes, "python3.12")
    error_message = "the helper layer is pure Python: any architecture"
  }
}

run "an_unknown_architecture_is_refused" {
  command = plan
  variables {
    workers = { report = { source_dir = "./tests", handler = "report.handler", architecture = "ppc64" } }
  }
  expect_failures = [var.workers]
}

run "workers_sharing_a_role_share_one_policy" {
  command = plan
  variables {
    workers = {
      resize = { function_name = "image-resize", role_name = "shared-role" }
      thumbs = { function_name = "thumbnails", role_name = "shared-role" }
    }
  }

  assert {
    condition     = keys(aws_iam_role_policy.worker) == ["shared-role"] && aws_iam_role_policy.worker["shared-role"].name == "acme-cb-worker"
    error_message = "one policy, named for the deployment, on the shared role"
  }
}

run "the_publisher_may_continue_itself_and_core_functions_may_reserve_concurrency" {
  command = plan
  variables {
    dispatcher_reserved_concurrency = 5
    recorder_reserved_concurrency   = 10
  }

  assert {
    condition     = aws_lambda_function_recursion_config.publisher.recursive_loop == "Allow" && aws_lambda_function_recursion_config.publisher.function_name == "acme-cb-publisher"
    error_message = "Lambda must not stop the publisher's chain of continuations"
  }
  assert {
    condition     = aws_lambda_function.core["dispatcher"].reserved_concurrent_executions == 5 && aws_lambda_function.core["recorder"].reserved_concurrent_executions == 10
    error_message = "the dispatcher and the recorder keep what the variables reserve"
  }
  assert {
    condition     = aws_lambda_function.core["publisher"].reserved_concurrent_executions == null
    error_message = "the publisher tree keeps the account's whole concurrency"
  }
}

run "the_code_is_built_at_apply_so_a_saved_plan_applies_anywhere" {
  command = plan

  assert {
    # A resource, not a data source: the zip is written when the plan is applied.
    condition     = archive_file.code.type == "zip" && aws_lambda_function.core["recorder"].filename == archive_file.code.output_path
    error_message = "the functions take the zip that apply builds"
  }
}
