# The alerts topic (alerts.tf): encrypted, this account's only, an e-mail subscription
# only when alert_email is set; the console address the sweeper's alerts link to. The
# sweeper's right to publish to the topic is in functions.tftest.hcl. Few runs: each
# plans the whole module.

mock_provider "aws" {
  source = "../../testing/aws"
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
  # What SNS answers: the topic's ARN is built from its name, as local.arn.alerts_topic is.
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:acme-cb-alerts" }
  }
}
mock_provider "archive" {}
mock_provider "random" {}

variables {
  prefix    = "acme-cb"
  auth_mode = "iam"
}

run "by_default_the_topic_is_encrypted_kept_to_this_account_and_nobody_is_subscribed" {
  command = plan

  assert {
    condition     = aws_sns_topic.alerts.name == "acme-cb-alerts"
    error_message = "the topic is <prefix>-alerts"
  }
  assert {
    condition     = aws_sns_topic.alerts.kms_master_key_id == "alias/aws/sns"
    error_message = "without kms_key_arn the topic is encrypted with the AWS managed key for SNS"
  }
  assert {
    condition = [for s in jsondecode(aws_sns_topic_policy.alerts.policy).Statement : s.Principal if s.Effect == "Allow"] == [
      { AWS = "arn:aws:iam::123456789012:root" }
    ]
    error_message = "only principals of this account are allowed anything on the topic"
  }
  assert {
    condition     = alltrue([for s in jsondecode(aws_sns_topic_policy.alerts.policy).Statement : s.Resource == "arn:aws:sns:eu-west-1:123456789012:acme-cb-alerts"])
    error_message = "the policy speaks of this topic only"
  }
  assert {
    condition     = one([for s in jsondecode(aws_sns_topic_policy.alerts.policy).Statement : s.Condition if s.Effect == "Deny"]) == { Bool = { "aws:SecureTransport" = "false" } }
    error_message = "publishing without TLS is refused"
  }
  assert {
    condition     = length(aws_sns_topic_subscription.alert_email) == 0
    error_message = "without alert_email nobody is subscribed"
  }
  assert {
    condition     = aws_lambda_function.core["sweeper"].environment[0].variables["CRONBRIDGE_CONSOLE_URL"] == "http://127.0.0.1:8790"
    error_message = "alerts link to `cronbridge ui` at its default address unless console_url says otherwise"
  }
  assert {
    condition     = !anytrue([for k, f in aws_lambda_function.core : contains(keys(f.environment[0].variables), "CRONBRIDGE_CONSOLE_URL") if k != "sweeper"])
    error_message = "only the sweeper sends alerts, so only it is told the console's address"
  }
}

run "alert_email_a_customer_key_and_the_console_address" {
  variables {
    alert_email = "ops@example.com"
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    console_url = "https://cronbridge.example.com"
  }

  assert {
    condition     = output.alerts_topic_arn == "arn:aws:sns:eu-west-1:123456789012:acme-cb-alerts" && aws_sns_topic_policy.alerts.arn == aws_sns_topic.alerts.arn
    error_message = "the topic's ARN is an output, for `cronbridge alerts add --sns-topic`, and the policy is the topic's"
  }
  assert {
    condition     = length(aws_sns_topic_subscription.alert_email) == 1
    error_message = "alert_email makes one subscription"
  }
  assert {
    condition     = aws_sns_topic_subscription.alert_email[0].protocol == "email" && aws_sns_topic_subscription.alert_email[0].endpoint == "ops@example.com" && aws_sns_topic_subscription.alert_email[0].topic_arn == aws_sns_topic.alerts.arn
    error_message = "an e-mail subscription of that address to the alerts topic"
  }
  assert {
    condition     = aws_sns_topic.alerts.kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    error_message = "with kms_key_arn the topic takes the module's key"
  }
  assert {
    condition = contains([for s in jsondecode(aws_iam_role_policy.core["sweeper"].policy).Statement : s.Resource if s.Sid == "UseKey"],
    "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555")
    error_message = "the sweeper may use the key, as publishing to a topic encrypted with it needs"
  }
  assert {
    condition     = aws_lambda_function.core["sweeper"].environment[0].variables["CRONBRIDGE_CONSOLE_URL"] == "https://cronbridge.example.com"
    error_message = "the sweeper reads console_url as CRONBRIDGE_CONSOLE_URL"
  }
}

run "a_bad_alert_email_or_console_url_is_refused" {
  command = plan
  variables {
    alert_email = "not an address"
    console_url = "ftp://example.com"
  }
  expect_failures = [var.alert_email, var.console_url]
}
