# The Logic Apps: schedule, the PUT they send, and what stays out of run history.

mock_provider "azurerm" {
  mock_resource "azurerm_logic_app_workflow" {
    defaults = {
      workflow_outbound_ip_addresses = ["20.43.1.10", "20.43.1.11"]
    }
  }
}

variables {
  location            = "japaneast"
  resource_group_name = "cronbridge-triggers"
  trigger_url         = "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com"
  user_agent_secret   = "current-secret-0123456789abcdef"
  groups = {
    nightly = { frequency = "Day", hours = [3], minutes = [0], time_zone = "Tokyo Standard Time" }
    reports = { frequency = "Week", week_days = ["Monday", "Thursday"], hours = [9], minutes = [30] }
    ticker  = { frequency = "Minute", interval = 5 }
  }
}

run "each_group_puts_its_trigger_with_the_secret_header_and_the_scheduled_time" {
  command = plan

  assert {
    condition = jsondecode(azurerm_logic_app_action_custom.put_trigger["nightly"].body).inputs == {
      method = "PUT"
      uri    = "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com/triggers/nightly"
      headers = {
        "User-Agent"   = "@parameters('userAgent')"
        "Content-Type" = "application/json"
      }
      body = {
        scheduled_time = "@{trigger().scheduledTime}"
        source         = "azure-logic-apps"
      }
      retryPolicy = { type = "exponential", count = 4, interval = "PT15S", maximumInterval = "PT1H" }
    }
    error_message = "a PUT of triggers/<group> with the User-Agent parameter, the scheduled time and an explicit retry policy"
  }
  assert {
    condition     = jsondecode(azurerm_logic_app_action_custom.put_trigger["reports"].body).inputs.uri == "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com/triggers/reports"
    error_message = "each Logic App PUTs its own group"
  }
  assert {
    condition     = alltrue([for a in azurerm_logic_app_action_custom.put_trigger : jsondecode(a.body).runtimeConfiguration.secureData.properties == ["inputs", "outputs"] && jsondecode(a.body).type == "Http"])
    error_message = "inputs and outputs are secure: the header never shows in run history"
  }
}

run "the_secret_is_a_secure_parameter_never_part_of_the_definition" {
  command = plan

  assert {
    condition     = alltrue([for w in azurerm_logic_app_workflow.group : jsondecode(w.workflow_parameters["userAgent"]) == { type = "SecureString" }])
    error_message = "userAgent is declared SecureString, with no default value"
  }
  assert {
    condition     = alltrue([for w in azurerm_logic_app_workflow.group : nonsensitive(w.parameters["userAgent"] == "current-secret-0123456789abcdef")])
    error_message = "the value is bound as the workflow's parameter"
  }
  assert {
    condition     = !anytrue([for a in azurerm_logic_app_action_custom.put_trigger : strcontains(a.body, "current-secret")])
    error_message = "the secret never appears in an action"
  }
  assert {
    condition     = { for g, w in azurerm_logic_app_workflow.group : g => [w.name, w.tags["cronbridge-group"]] } == { nightly = ["cronbridge-nightly", "nightly"], reports = ["cronbridge-reports", "reports"], ticker = ["cronbridge-ticker", "ticker"] }
    error_message = "names and tags match `cronbridge azure deploy-trigger`, so `cronbridge azure list` finds them"
  }
}

run "recurrences_follow_each_group" {
  command = plan

  assert {
    condition = (
      azurerm_logic_app_trigger_recurrence.schedule["nightly"].frequency == "Day" &&
      azurerm_logic_app_trigger_recurrence.schedule["nightly"].interval == 1 &&
      azurerm_logic_app_trigger_recurrence.schedule["nightly"].time_zone == "Tokyo Standard Time" &&
      azurerm_logic_app_trigger_recurrence.schedule["nightly"].schedule[0].at_these_hours == toset([3]) &&
      azurerm_logic_app_trigger_recurrence.schedule["nightly"].schedule[0].at_these_minutes == toset([0])
    )
    error_message = "daily at 03:00 Tokyo time"
  }
  assert {
    condition     = azurerm_logic_app_trigger_recurrence.schedule["reports"].schedule[0].on_these_days == toset(["Monday", "Thursday"])
    error_message = "weekly on the given days"
  }
  assert {
    condition     = azurerm_logic_app_trigger_recurrence.schedule["ticker"].interval == 5 && length(azurerm_logic_app_trigger_recurrence.schedule["ticker"].schedule) == 0 && azurerm_logic_app_trigger_recurrence.schedule["ticker"].time_zone == "UTC"
    error_message = "every five minutes, with no schedule block"
  }
}

run "the_outbound_addresses_are_output_once_each" {
  assert {
    condition     = output.outbound_ip_addresses == tolist(["20.43.1.10", "20.43.1.11"])
    error_message = "the union of the workflows' outbound addresses, for the bucket policy's source_ip mode"
  }
}

run "a_bad_group_name_is_refused" {
  command = plan
  variables {
    groups = { "Nightly_Jobs" = { frequency = "Day" } }
  }
  expect_failures = [var.groups]
}

run "a_plain_http_trigger_url_is_refused" {
  command = plan
  variables {
    trigger_url = "http://acme-cb-triggers.s3.eu-west-1.amazonaws.com"
  }
  expect_failures = [var.trigger_url]
}
