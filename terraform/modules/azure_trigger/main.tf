# One Logic App (Consumption) per group: a recurrence trigger and one HTTP PUT of
# triggers/<group> with the User-Agent secret. This is the same workflow
# `cronbridge azure deploy-trigger` creates (triggers/azure.py); the names and the
# cronbridge-group tag match, so `cronbridge azure list` shows these too.

resource "azurerm_resource_group" "this" {
  count    = var.create_resource_group ? 1 : 0
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

locals {
  resource_group_name = var.create_resource_group ? azurerm_resource_group.this[0].name : var.resource_group_name

  # The action the Python path sends too. The secret is the SecureString workflow
  # parameter userAgent, never part of the definition, and secureData keeps the
  # action's inputs and outputs (headers included) out of run history.
  put_actions = {
    for group, g in var.groups : group => {
      type = "Http"
      inputs = {
        method = "PUT"
        uri    = "${var.trigger_url}/triggers/${group}"
        headers = {
          "User-Agent"   = "@parameters('userAgent')"
          "Content-Type" = "application/json"
        }
        # trigger().scheduledTime is the slot the recurrence fired for, not when the
        # run started (see README): it names the run, so a retry opens no second run.
        body = {
          scheduled_time = "@{trigger().scheduledTime}"
          source         = "azure-logic-apps"
        }
        retryPolicy = {
          type            = "exponential"
          count           = var.retry.count
          interval        = var.retry.interval
          maximumInterval = var.retry.maximum_interval
        }
      }
      runAfter             = {}
      runtimeConfiguration = { secureData = { properties = ["inputs", "outputs"] } }
    }
  }
}

resource "azurerm_logic_app_workflow" "group" {
  for_each            = var.groups
  name                = "cronbridge-${each.key}"
  location            = var.location
  resource_group_name = local.resource_group_name
  enabled             = each.value.enabled
  tags                = merge(var.tags, { "cronbridge-group" = each.key })

  workflow_parameters = {
    userAgent = jsonencode({ type = "SecureString" })
  }
  parameters = {
    userAgent = var.user_agent_secret
  }
}

resource "azurerm_logic_app_trigger_recurrence" "schedule" {
  for_each     = var.groups
  name         = "Schedule"
  logic_app_id = azurerm_logic_app_workflow.group[each.key].id
  frequency    = each.value.frequency
  interval     = each.value.interval
  time_zone    = each.value.time_zone
  start_time   = each.value.start_time

  dynamic "schedule" {
    for_each = length(concat(each.value.hours, each.value.minutes, each.value.week_days)) > 0 ? [1] : []
    content {
      at_these_hours   = length(each.value.hours) > 0 ? each.value.hours : null
      at_these_minutes = length(each.value.minutes) > 0 ? each.value.minutes : null
      on_these_days    = length(each.value.week_days) > 0 ? each.value.week_days : null
    }
  }
}

# azurerm_logic_app_action_http has no argument for a retry policy or for secure
# inputs and outputs, so the action is written out in full.
resource "azurerm_logic_app_action_custom" "put_trigger" {
  for_each     = var.groups
  name         = "Put_trigger"
  logic_app_id = azurerm_logic_app_workflow.group[each.key].id
  body         = jsonencode(local.put_actions[each.key])
}
