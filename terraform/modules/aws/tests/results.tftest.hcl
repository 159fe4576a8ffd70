# The results path: the workers' destinations, the results queue and its DLQ, the
# mapping that feeds the recorder, the sweeper's schedule, and the alarms on all of it.

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
    report = { source_dir = "./tests", handler = "report.handler", max_attempts = 1 }
  }
}

run "every_worker_sends_its_results_to_the_results_queue" {
  assert {
    condition = alltrue([for c in aws_lambda_function_event_invoke_config.worker :
      c.destination_config[0].on_success[0].destination == aws_sqs_queue.results.arn &&
    c.destination_config[0].on_failure[0].destination == aws_sqs_queue.results.arn])
    error_message = "success and failure both go to the results queue"
  }
  assert {
    condition     = toset(keys(aws_lambda_function_event_invoke_config.worker)) == toset(["resize", "report"])
    error_message = "the user's worker and the deployed one both get destinations"
  }
  assert {
    condition     = output.results_queue_arn == aws_sqs_queue.results.arn && output.results_queue_url == aws_sqs_queue.results.url
    error_message = "the queue is an output, for workers wired up outside the module and for `config from-terraform`"
  }
}

run "the_worker_policy_sends_to_the_results_queue_and_nothing_invokes_the_recorder" {
  command = plan

  assert {
    condition = alltrue([for p in aws_iam_role_policy.worker :
      [for s in jsondecode(p.policy).Statement : s.Resource if s.Action == "sqs:SendMessage"] == ["arn:aws:sqs:eu-west-1:123456789012:acme-cb-results"]
    ])
    error_message = "every worker role may send to the results queue, and to no other queue (Lambda delivers destinations with it)"
  }
  assert {
    condition = alltrue([for p in aws_iam_role_policy.worker :
      toset(flatten([for s in jsondecode(p.policy).Statement : s.Action if s.Resource == "arn:aws:dynamodb:eu-west-1:123456789012:table/acme-cb-ledger"])) == toset([
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem",
      ])
    ])
    error_message = "the worker helper claims jobs and records an sqs: consumer's results on the table, and nothing more"
  }
  assert {
    condition = !anytrue([for p in concat(values(aws_iam_role_policy.core), values(aws_iam_role_policy.worker)) :
      strcontains(p.policy, ":function:acme-cb-recorder")
    ])
    error_message = "no role may invoke the recorder: only the results queue's mapping does"
  }
  assert {
    condition     = toset(values(aws_iam_role_policy.worker)[*].role) == toset(["image-resize-role", "acme-cb-report"])
    error_message = "the worker policy goes on the user's role and on the deployed worker's"
  }
}

run "the_recorder_drains_the_results_queue" {
  command = plan

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.core["recorder"].policy).Statement : [s.Action, s.Resource] if s.Sid == "DrainResultsQueue"] == [[
      ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
      "arn:aws:sqs:eu-west-1:123456789012:acme-cb-results",
    ]]
    error_message = "the recorder's role may do what the results queue's mapping needs (receive, delete, read the queue's attributes), and no more"
  }
  assert {
    condition = !anytrue(flatten([for name, p in aws_iam_role_policy.core : [
      for s in jsondecode(p.policy).Statement : contains(flatten([s.Resource]), "arn:aws:sqs:eu-west-1:123456789012:acme-cb-results") if name != "recorder"
    ]]))
    error_message = "no other function reads the results queue"
  }
}

run "the_mapping_takes_its_batches_from_the_variables" {
  variables {
    results_batch_size              = 250
    results_batching_window_seconds = 20
    recorder_max_concurrency        = 7
  }

  assert {
    condition     = aws_lambda_event_source_mapping.results.event_source_arn == aws_sqs_queue.results.arn && aws_lambda_event_source_mapping.results.function_name == aws_lambda_function.core["recorder"].arn
    error_message = "the mapping hands the results queue's records to the recorder"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.results.batch_size == 250 && aws_lambda_event_source_mapping.results.maximum_batching_window_in_seconds == 20
    error_message = "batch size and batching window come from the variables"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.results.function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "only the failed runs' messages come back, not the whole batch"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.results.scaling_config[0].maximum_concurrency == 7
    error_message = "the recorder's concurrency is capped by recorder_max_concurrency"
  }
  assert {
    condition     = aws_lambda_function.core["recorder"].environment[0].variables["CRONBRIDGE_RECORDING_DELAY_SECONDS"] == "380" && output.recording_delay_seconds == 380
    error_message = "the recording delay is the batching window plus the visibility timeout (20 + 360)"
  }
}

run "the_defaults_batch_a_thousand_over_two_seconds" {
  command = plan

  assert {
    condition = [
      aws_lambda_event_source_mapping.results.batch_size,
      aws_lambda_event_source_mapping.results.maximum_batching_window_in_seconds,
      aws_lambda_event_source_mapping.results.scaling_config[0].maximum_concurrency,
    ] == [1000, 2, 10]
    error_message = "1000 records, 2 seconds, 10 recorders at once by default"
  }
  assert {
    condition     = output.event_age_seconds == 21600 && output.recording_delay_seconds == 362
    error_message = "the outputs `config from-terraform` reads carry the deadlines' inputs"
  }
}

run "a_large_batch_without_a_window_is_refused" {
  command = plan
  variables {
    results_batch_size              = 11
    results_batching_window_seconds = 0
  }
  expect_failures = [var.results_batching_window_seconds]
}

run "a_small_batch_may_go_without_a_window" {
  command = plan
  variables {
    results_batch_size              = 10
    results_batching_window_seconds = 0
  }

  assert {
    condition     = aws_lambda_event_source_mapping.results.maximum_batching_window_in_seconds == 0 && output.recording_delay_seconds == 360
    error_message = "AWS allows no window for batches of up to 10"
  }
}

run "out_of_range_settings_are_refused" {
  command = plan
  variables {
    results_batch_size       = 10001
    recorder_max_concurrency = 1
    worker_event_age_seconds = 59
  }
  expect_failures = [var.results_batch_size, var.recorder_max_concurrency, var.worker_event_age_seconds]
}

run "the_results_queue_outlasts_the_recorder_and_has_a_dlq" {
  assert {
    condition     = aws_sqs_queue.results.name == "acme-cb-results" && aws_sqs_queue.results.visibility_timeout_seconds == 6 * aws_lambda_function.core["recorder"].timeout
    error_message = "the visibility timeout is six times the recorder's timeout, as AWS recommends for SQS event sources"
  }
  assert {
    condition = jsondecode(aws_sqs_queue.results.redrive_policy) == {
      deadLetterTargetArn = aws_sqs_queue.results_dlq.arn
      maxReceiveCount     = 5
    }
    error_message = "a record the recorder fails five times goes to the results DLQ"
  }
  assert {
    condition     = aws_sqs_queue.results_dlq.name == "acme-cb-results-dlq" && aws_sqs_queue.results.message_retention_seconds == 345600 && aws_sqs_queue.results_dlq.message_retention_seconds == 1209600
    error_message = "four days on the queue, fourteen on its DLQ"
  }
  assert {
    condition     = aws_sqs_queue.results.sqs_managed_sse_enabled && aws_sqs_queue.results_dlq.sqs_managed_sse_enabled && aws_sqs_queue.results.kms_master_key_id == null
    error_message = "without a customer key, SQS-managed encryption"
  }
}

run "with_a_customer_key_the_results_queues_use_it" {
  command = plan
  variables {
    kms_key_arn               = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    results_max_receive_count = 3
  }

  assert {
    condition = alltrue([for q in [aws_sqs_queue.results, aws_sqs_queue.results_dlq] :
      q.kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" && !q.sqs_managed_sse_enabled
    ])
    error_message = "both queues are encrypted with the customer key"
  }
  assert {
    condition = alltrue([for p in concat(values(aws_iam_role_policy.worker), [aws_iam_role_policy.core["recorder"]]) :
      [for s in jsondecode(p.policy).Statement : s.Action if s.Sid == "UseKey"] == [["kms:Decrypt", "kms:GenerateDataKey"]]
    ])
    error_message = "the workers (which send to the queue) and the recorder (which reads it) may use the key"
  }
}

run "the_sweeper_runs_on_its_schedule" {
  variables {
    sweep_schedule = "rate(5 minutes)"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.sweep.schedule_expression == "rate(5 minutes)" && aws_cloudwatch_event_rule.sweep.state == "ENABLED"
    error_message = "the rule fires on sweep_schedule"
  }
  assert {
    condition     = aws_cloudwatch_event_target.sweep.rule == aws_cloudwatch_event_rule.sweep.name && aws_cloudwatch_event_target.sweep.arn == aws_lambda_function.core["sweeper"].arn
    error_message = "the rule's target is the sweeper"
  }
  assert {
    condition = (
      aws_lambda_permission.sweep.function_name == aws_lambda_function.core["sweeper"].function_name &&
      aws_lambda_permission.sweep.principal == "events.amazonaws.com" &&
      aws_lambda_permission.sweep.action == "lambda:InvokeFunction" &&
      aws_lambda_permission.sweep.source_arn == "arn:aws:events:eu-west-1:123456789012:rule/${aws_cloudwatch_event_rule.sweep.name}"
    )
    error_message = "only this rule may invoke the sweeper"
  }
  assert {
    condition     = output.sweeper_function == "acme-cb-sweeper"
    error_message = "the sweeper is an output, for `cronbridge doctor`"
  }
}

run "the_sweeper_sweeps_every_minute_by_default" {
  command = plan

  assert {
    condition     = aws_cloudwatch_event_rule.sweep.schedule_expression == "rate(1 minute)"
    error_message = "every minute unless told otherwise"
  }
  assert {
    condition     = aws_lambda_function_event_invoke_config.core["sweeper"].destination_config[0].on_failure[0].destination == aws_sqs_queue.dlq.arn
    error_message = "the sweeper's failed events go to the DLQ, like every core function's"
  }
}

run "the_event_age_sets_the_workers_and_the_deadlines" {
  command = plan
  variables {
    worker_event_age_seconds = 3600
  }

  assert {
    condition     = alltrue([for c in aws_lambda_function_event_invoke_config.worker : c.maximum_event_age_in_seconds == 3600])
    error_message = "Lambda gives up on a worker's event after worker_event_age_seconds"
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.core : f.environment[0].variables["CRONBRIDGE_EVENT_AGE_SECONDS"] == "3600"])
    error_message = "and the deadlines count on the same figure"
  }
}

run "alarms_watch_deliveries_overdue_runs_lost_jobs_missed_slots_alerts_and_the_results_dlq" {
  command = plan
  variables {
    alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:oncall"]
  }

  assert {
    condition = { for k, a in aws_cloudwatch_metric_alarm.destination_delivery_failures : k => [a.namespace, a.metric_name, a.dimensions] } == {
      resize = ["AWS/Lambda", "DestinationDeliveryFailures", tomap({ FunctionName = "image-resize" })]
      report = ["AWS/Lambda", "DestinationDeliveryFailures", tomap({ FunctionName = "acme-cb-report" })]
    }
    error_message = "each worker's undelivered destination records raise an alarm"
  }
  assert {
    condition = (
      { for k, a in aws_cloudwatch_metric_alarm.sweeper : k => a.metric_name } == { "overdue-runs" = "OverdueRuns", "lost-jobs" = "LostJobs", "missed-slots" = "MissedSlots", "alerts-given-up" = "AlertsGivenUp" } &&
      alltrue([for a in values(aws_cloudwatch_metric_alarm.sweeper) : a.namespace == "cronbridge" && a.dimensions == tomap({ LedgerTable = "acme-cb-ledger" })])
    )
    error_message = "the sweeper's metrics, which it reports per ledger table, raise alarms"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.results_dlq_depth.namespace == "AWS/SQS" && aws_cloudwatch_metric_alarm.results_dlq_depth.dimensions == tomap({ QueueName = "acme-cb-results-dlq" })
    error_message = "a record in the results DLQ raises an alarm"
  }
  assert {
    condition = alltrue([for a in concat(values(aws_cloudwatch_metric_alarm.destination_delivery_failures), values(aws_cloudwatch_metric_alarm.sweeper), [aws_cloudwatch_metric_alarm.results_dlq_depth]) :
      a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold" && a.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:oncall"])
    ])
    error_message = "each fires on anything above zero and notifies alarm_actions"
  }
}

run "no_role_has_a_wildcard_action_or_resource" {
  command = plan
  variables {
    worker_queue_arns = ["arn:aws:sqs:eu-west-1:123456789012:batch-jobs"]
    kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    schedules         = { nightly = { group = "nightly", expression = "rate(1 hour)" } }
  }

  assert {
    condition = alltrue(flatten([for p in concat(values(aws_iam_role_policy.core), values(aws_iam_role_policy.worker), values(aws_iam_role_policy.worker_logs), aws_iam_role_policy.scheduler) : [
      for s in jsondecode(p.policy).Statement :
      s.Effect == "Allow" && !contains(flatten([s.Resource]), "*") && !anytrue([for a in flatten([s.Action]) : strcontains(a, "*")])
    ]]))
    error_message = "no role, core, worker or scheduler, allows a wildcard action or Resource \"*\""
  }
  assert {
    condition     = length(aws_iam_role_policy.core) == 4 && toset(values(aws_iam_role.core)[*].name) == toset(["acme-cb-dispatcher", "acme-cb-publisher", "acme-cb-recorder", "acme-cb-sweeper"])
    error_message = "one role per function"
  }
}
