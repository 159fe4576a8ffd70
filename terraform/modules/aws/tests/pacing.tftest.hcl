# The pacing queue: where a paced run's lanes wait between wakes, and the mapping that
# wakes the publisher with them (publishers/publish.py, bridge/domain/plan.py).

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
  }
}

run "a_paced_lane_waits_in_the_pacing_queue_not_in_a_lambda" {
  assert {
    condition     = aws_sqs_queue.pacing.name == "acme-cb-pacing" && aws_sqs_queue.pacing.visibility_timeout_seconds == 960
    error_message = "the queue's visibility timeout covers the publisher's 900 s timeout, as SQS event sources require"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.pacing.redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.dlq.arn, maxReceiveCount = 5 }
    error_message = "a wake that keeps failing ends in the DLQ the core functions already alarm on"
  }
  assert {
    condition     = aws_sqs_queue.pacing.sqs_managed_sse_enabled && aws_sqs_queue.pacing.kms_master_key_id == null
    error_message = "the queue is encrypted at rest"
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.pacing.event_source_arn == aws_sqs_queue.pacing.arn &&
      aws_lambda_event_source_mapping.pacing.function_name == aws_lambda_function.core["publisher"].arn &&
      aws_lambda_event_source_mapping.pacing.batch_size == 10 &&
      aws_lambda_event_source_mapping.pacing.function_response_types == toset(["ReportBatchItemFailures"]) &&
      aws_lambda_event_source_mapping.pacing.scaling_config[0].maximum_concurrency == 20
    )
    error_message = "the mapping wakes the publisher with up to 10 lanes, returns only the failed ones, and runs at most 20 wakes at once"
  }
  assert {
    condition     = aws_lambda_function.core["publisher"].environment[0].variables["CRONBRIDGE_PACING_QUEUE"] == "https://sqs.eu-west-1.amazonaws.com/123456789012/acme-cb-pacing"
    error_message = "the publisher knows the queue's URL"
  }
}

run "only_the_publisher_uses_the_pacing_queue" {
  command = plan

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.core["publisher"].policy).Statement : [s.Action, s.Resource] if s.Sid == "PaceLanes"] == [[
      ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
      "arn:aws:sqs:eu-west-1:123456789012:acme-cb-pacing",
    ]]
    error_message = "the publisher sends its lanes' wakes, and its mapping receives, deletes and reads the queue's attributes"
  }
  assert {
    condition = !anytrue(flatten([for name, p in merge(aws_iam_role_policy.core, aws_iam_role_policy.worker) : [
      for s in jsondecode(p.policy).Statement : contains(flatten([s.Resource]), "arn:aws:sqs:eu-west-1:123456789012:acme-cb-pacing") if name != "publisher"
    ]]))
    error_message = "no other role touches the pacing queue"
  }
}

run "a_customer_key_encrypts_the_pacing_queue" {
  command = plan
  variables {
    kms_key_arn                 = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    paced_wakes_max_concurrency = 50
  }

  assert {
    condition     = aws_sqs_queue.pacing.kms_master_key_id == var.kms_key_arn && !aws_sqs_queue.pacing.sqs_managed_sse_enabled
    error_message = "with kms_key_arn, the queue uses the customer's key"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.pacing.scaling_config[0].maximum_concurrency == 50
    error_message = "paced_wakes_max_concurrency sets the mapping's maximum concurrency"
  }
}

run "the_wakes_concurrency_is_what_sqs_event_sources_allow" {
  command = plan
  variables {
    paced_wakes_max_concurrency = 1
  }
  expect_failures = [var.paced_wakes_max_concurrency]
}
