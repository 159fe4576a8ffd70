# The two modules wired together: AWS's address and secret into Azure, and in
# source_ip mode the Logic Apps' outbound addresses back into the bucket policy.

mock_provider "aws" {
  source = "../../testing/aws"
  mock_data "aws_region" {
    defaults = { region = "ap-northeast-1" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:ap-northeast-1:123456789012:acme-cronbridge-alerts" }
  }
}
mock_provider "azurerm" {
  mock_resource "azurerm_resource_group_template_deployment" {
    defaults = {
      # What ARM reports for the Logic App template's outputs section.
      output_content = "{\"workflowId\":{\"type\":\"String\",\"value\":\"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cronbridge-triggers/providers/Microsoft.Logic/workflows/acme-cronbridge-nightly\"},\"outboundIpAddresses\":{\"type\":\"Array\",\"value\":[{\"address\":\"20.43.1.10\"},{\"address\":\"20.43.1.11\"}]}}"
    }
  }
}
mock_provider "archive" {}
mock_provider "random" {
  mock_resource "random_password" {
    defaults = { result = "generated0123456789generated0123456789ab" }
  }
}

variables {
  aws_region            = "ap-northeast-1"
  prefix                = "acme-cronbridge"
  azure_subscription_id = "00000000-0000-0000-0000-000000000000"
  azure_location        = "japaneast"
  groups = {
    nightly = { frequency = "Day", hours = [3], minutes = [0] }
  }
}

run "source_ip_mode_admits_the_logic_apps_addresses_with_the_secret" {
  variables {
    auth_mode = "source_ip"
  }

  assert {
    condition     = jsondecode(nonsensitive(module.cronbridge.trigger_bucket_policy)).Statement[1].Condition.IpAddress["aws:SourceIp"] == ["20.43.1.10", "20.43.1.11"]
    error_message = "the bucket admits exactly the Logic Apps' outbound addresses"
  }
  assert {
    condition     = jsondecode(nonsensitive(module.cronbridge.trigger_bucket_policy)).Statement[1].Condition.StringLike["aws:UserAgent"] == ["*${nonsensitive(output.user_agent_secret)}*"]
    error_message = "and only with the secret the Logic Apps send"
  }
  assert {
    condition     = module.schedules.trigger_urls["nightly"] == "https://acme-cronbridge-triggers.s3.ap-northeast-1.amazonaws.com/triggers/nightly" && length(module.schedules.trigger_urls) == 1
    error_message = "each Logic App PUTs its group's key in the trigger bucket"
  }
  assert {
    condition     = module.schedules.workflow_names == { nightly = "acme-cronbridge-nightly" } && output.logic_app_ids["nightly"] == "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cronbridge-triggers/providers/Microsoft.Logic/workflows/acme-cronbridge-nightly"
    error_message = "the Logic Apps carry the example's prefix, so another deployment can share the resource group"
  }
}

run "user_agent_mode_leaves_the_addresses_out" {
  command = plan
  variables {
    auth_mode = "user_agent"
  }

  assert {
    condition     = !contains(keys(jsondecode(nonsensitive(module.cronbridge.trigger_bucket_policy)).Statement[1].Condition), "IpAddress")
    error_message = "user_agent mode checks the secret only"
  }
}

run "iam_mode_is_refused_because_logic_apps_cannot_sign" {
  command = plan
  variables {
    auth_mode = "iam"
  }
  expect_failures = [var.auth_mode]
}

run "the_results_path_reaches_the_outputs_config_from_terraform_reads" {
  command = plan
  variables {
    auth_mode = "user_agent"
  }

  assert {
    condition     = output.sweeper_function == "acme-cronbridge-sweeper" && output.event_age_seconds == 21600 && output.recording_delay_seconds == 362
    error_message = "the sweeper and the deadlines' inputs pass through to the root module's outputs"
  }
  assert {
    condition     = output.recorder_function == "acme-cronbridge-recorder"
    error_message = "the recorder stays an output, for `cronbridge doctor`"
  }
}

run "the_alerts_topic_is_an_output_and_alert_email_is_passed_on" {
  variables {
    auth_mode   = "user_agent"
    alert_email = "ops@example.com"
  }

  assert {
    condition     = output.alerts_topic_arn == "arn:aws:sns:ap-northeast-1:123456789012:acme-cronbridge-alerts"
    error_message = "the alerts topic's ARN is an output of the example, for `cronbridge alerts add --sns-topic`"
  }
}
