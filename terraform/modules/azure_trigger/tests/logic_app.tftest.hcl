# The Logic Apps: one template deployment per group, writing the whole workflow (schedule,
# the PUT it sends, the secret) in one PUT, and what stays out of run history.

mock_provider "azurerm" {
  mock_resource "azurerm_resource_group_template_deployment" {
    defaults = {
      # What ARM reports for the template's outputs section.
      output_content = "{\"workflowId\":{\"type\":\"String\",\"value\":\"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cronbridge-triggers/providers/Microsoft.Logic/workflows/cronbridge-nightly\"},\"outboundIpAddresses\":{\"type\":\"Array\",\"value\":[{\"address\":\"20.43.1.11\"},{\"address\":\"20.43.1.10\"}]}}"
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

run "each_group_is_one_deployment_of_one_whole_workflow" {
  command = plan

  assert {
    condition     = length(azurerm_resource_group_template_deployment.workflow) == 3
    error_message = "one deployment per group, and nothing else writes a workflow"
  }
  assert {
    condition = alltrue([for g, d in azurerm_resource_group_template_deployment.workflow : (
      d.deployment_mode == "Incremental" &&
      length(jsondecode(d.template_content).resources) == 1 &&
      jsondecode(d.template_content).resources[0].type == "Microsoft.Logic/workflows" &&
      jsondecode(d.template_content).resources[0].apiVersion == "2019-05-01" &&
      jsondecode(d.template_content).resources[0].location == "japaneast"
    )])
    error_message = "each template declares exactly one Logic App, incrementally, so nothing else in the resource group is touched"
  }
  assert {
    condition = alltrue([for g, d in azurerm_resource_group_template_deployment.workflow : (
      keys(jsondecode(d.template_content).resources[0].properties.definition.triggers) == ["Schedule"] &&
      keys(jsondecode(d.template_content).resources[0].properties.definition.actions) == ["Put_trigger"]
    )])
    error_message = "the one write carries the trigger and the action with the definition"
  }
}

run "the_definition_is_the_one_triggers_azure_py_builds" {
  command = plan

  # tests/nightly.definition.json is workflow_definition(url, parse_every("1d", at=["03:00"],
  # time_zone="Tokyo Standard Time")); tests/test_azure_triggers.py checks the Python side
  # against the same file, so the two cannot drift apart.
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.workflow["nightly"].template_content).resources[0].properties.definition == jsondecode(file("tests/nightly.definition.json"))
    error_message = "the module's workflow definition differs from triggers/azure.py's (tests/nightly.definition.json)"
  }
}

run "each_group_puts_its_trigger_with_the_secret_header_and_the_scheduled_time" {
  command = plan

  assert {
    condition = jsondecode(azurerm_resource_group_template_deployment.workflow["nightly"].template_content).resources[0].properties.definition.actions.Put_trigger.inputs == {
      method = "PUT"
      uri    = "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com/triggers/nightly"
      headers = {
        "User-Agent"   = "@parameters('userAgent')"
        "Content-Type" = "application/json"
      }
      body = {
        scheduled_time = "@{coalesce(trigger()?['scheduledTime'], trigger().startTime)}"
        source         = "azure-logic-apps"
      }
      retryPolicy = { type = "exponential", count = 4, interval = "PT15S", maximumInterval = "PT1H" }
    }
    error_message = "a PUT of triggers/<group> with the User-Agent parameter, the slot's time (or, run by hand, the time it fired) and an explicit retry policy"
  }
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.workflow["reports"].template_content).resources[0].properties.definition.actions.Put_trigger.inputs.uri == "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com/triggers/reports"
    error_message = "each Logic App PUTs its own group"
  }
  assert {
    condition     = alltrue([for d in azurerm_resource_group_template_deployment.workflow : jsondecode(d.template_content).resources[0].properties.definition.actions.Put_trigger.runtimeConfiguration.secureData.properties == ["inputs", "outputs"]])
    error_message = "inputs and outputs are secure: the header never shows in run history"
  }
}

run "the_secret_travels_only_as_the_templates_secure_parameter" {
  command = plan

  assert {
    condition     = alltrue([for d in azurerm_resource_group_template_deployment.workflow : jsondecode(d.template_content).parameters == { userAgent = { type = "secureString" } }])
    error_message = "the template declares userAgent secureString, with no default value"
  }
  assert {
    condition     = alltrue([for d in azurerm_resource_group_template_deployment.workflow : nonsensitive(jsondecode(d.parameters_content) == { userAgent = { value = "current-secret-0123456789abcdef" } })])
    error_message = "the deployment passes the secret's value in the same write"
  }
  assert {
    condition = alltrue([for d in azurerm_resource_group_template_deployment.workflow : (
      jsondecode(d.template_content).resources[0].properties.parameters == { userAgent = { type = "SecureString", value = "[parameters('userAgent')]" } } &&
      jsondecode(d.template_content).resources[0].properties.definition.parameters == { userAgent = { type = "SecureString" } }
    )])
    error_message = "the workflow declares userAgent SecureString and binds it from the template parameter"
  }
  assert {
    condition     = !anytrue([for d in azurerm_resource_group_template_deployment.workflow : strcontains(d.template_content, "current-secret")])
    error_message = "the secret never appears in a template (templates are kept in the deployment history)"
  }
}

run "names_and_tags_match_the_cli" {
  command = plan

  assert {
    condition = { for g, d in azurerm_resource_group_template_deployment.workflow : g => [
      d.name, jsondecode(d.template_content).resources[0].name, jsondecode(d.template_content).resources[0].tags["cronbridge-group"]
    ] } == { nightly = ["cronbridge-nightly", "cronbridge-nightly", "nightly"], reports = ["cronbridge-reports", "cronbridge-reports", "reports"], ticker = ["cronbridge-ticker", "cronbridge-ticker", "ticker"] }
    error_message = "names and tags match `cronbridge azure deploy-trigger`, so `cronbridge azure list` finds them"
  }
  assert {
    condition     = output.workflow_names == { nightly = "cronbridge-nightly", reports = "cronbridge-reports", ticker = "cronbridge-ticker" }
    error_message = "the names are output"
  }
}

run "a_name_prefix_names_every_workflow" {
  command = plan
  variables {
    name_prefix = "acme-cb"
  }

  assert {
    condition     = [for d in azurerm_resource_group_template_deployment.workflow : jsondecode(d.template_content).resources[0].name] == ["acme-cb-nightly", "acme-cb-reports", "acme-cb-ticker"]
    error_message = "Logic Apps are named <name_prefix>-<group>, so two deployments can share a resource group"
  }
  assert {
    condition     = [for d in azurerm_resource_group_template_deployment.workflow : d.name] == ["acme-cb-nightly", "acme-cb-reports", "acme-cb-ticker"]
    error_message = "and so are their deployments, whose names are unique in a resource group too"
  }
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.workflow["nightly"].template_content).outputs.workflowId.value == "[resourceId('Microsoft.Logic/workflows', 'acme-cb-nightly')]"
    error_message = "the template reports the workflow it wrote"
  }
}

run "recurrences_follow_each_group" {
  command = plan

  assert {
    condition = jsondecode(azurerm_resource_group_template_deployment.workflow["nightly"].template_content).resources[0].properties.definition.triggers.Schedule == {
      type       = "Recurrence"
      recurrence = { frequency = "Day", interval = 1, timeZone = "Tokyo Standard Time", schedule = { hours = [3], minutes = [0] } }
    }
    error_message = "daily at 03:00 Tokyo time"
  }
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.workflow["reports"].template_content).resources[0].properties.definition.triggers.Schedule.recurrence.schedule == { weekDays = ["Monday", "Thursday"], hours = [9], minutes = [30] }
    error_message = "weekly on the given days"
  }
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.workflow["ticker"].template_content).resources[0].properties.definition.triggers.Schedule.recurrence == { frequency = "Minute", interval = 5, timeZone = "UTC" }
    error_message = "every five minutes, with no schedule"
  }
  assert {
    condition     = alltrue([for d in azurerm_resource_group_template_deployment.workflow : jsondecode(d.template_content).resources[0].properties.state == "Enabled"])
    error_message = "enabled unless a group says otherwise"
  }
}

run "a_start_time_and_a_disabled_group" {
  command = plan
  variables {
    groups = { paused = { frequency = "Hour", start_time = "2026-01-01T00:15:00Z", enabled = false } }
  }

  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.workflow["paused"].template_content).resources[0].properties.definition.triggers.Schedule.recurrence == { frequency = "Hour", interval = 1, timeZone = "UTC", startTime = "2026-01-01T00:15:00Z" }
    error_message = "start_time pins the recurrence's slots"
  }
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.workflow["paused"].template_content).resources[0].properties.state == "Disabled"
    error_message = "enabled = false deploys the workflow disabled"
  }
}

run "the_outputs_come_from_the_deployments" {
  assert {
    condition     = output.outbound_ip_addresses == tolist(["20.43.1.10", "20.43.1.11"])
    error_message = "the union of the workflows' outbound addresses, sorted, once each, for the bucket policy's source_ip mode"
  }
  assert {
    condition     = output.outbound_ip_addresses_by_group["ticker"] == ["20.43.1.11", "20.43.1.10"]
    error_message = "each group's addresses, as its template's outputs report them"
  }
  assert {
    condition     = output.workflow_ids["nightly"] == "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cronbridge-triggers/providers/Microsoft.Logic/workflows/cronbridge-nightly"
    error_message = "the workflow ids come from the template's outputs"
  }
  assert {
    condition     = output.trigger_urls["reports"] == "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com/triggers/reports"
    error_message = "the address each group PUTs"
  }
}

run "a_bad_group_name_is_refused" {
  command = plan
  variables {
    groups = { "Nightly_Jobs" = { frequency = "Day" } }
  }
  expect_failures = [var.groups]
}

run "a_bad_name_prefix_is_refused" {
  command = plan
  variables {
    name_prefix = "Acme_"
  }
  expect_failures = [var.name_prefix]
}

run "a_name_too_long_for_a_deployment_is_refused" {
  command = plan
  variables {
    name_prefix = "acme-cronbridge-production-triggers"
    groups      = { "nightly-reports-for-the-finance-team" = { frequency = "Day" } }
  }
  expect_failures = [azurerm_resource_group_template_deployment.workflow]
}

run "a_plain_http_trigger_url_is_refused" {
  command = plan
  variables {
    trigger_url = "http://acme-cb-triggers.s3.eu-west-1.amazonaws.com"
  }
  expect_failures = [var.trigger_url]
}
