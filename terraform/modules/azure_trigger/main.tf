# One Logic App (Consumption) per group: a recurrence trigger and one HTTP PUT of
# triggers/<group> with the User-Agent secret. This is the same workflow
# `cronbridge azure deploy-trigger` creates (triggers/azure.py; the tests compare the two
# definitions); the names and the cronbridge-group tag match, so `cronbridge azure list`
# shows these too.
#
# Each workflow is written ONCE, whole: definition, trigger, action and the secret's value
# in one PUT, through an ARM template deployment whose secureString parameter carries the
# secret. Nothing reads the workflow back and writes it again. (The azurerm_logic_app_trigger_*
# and _action_* resources do exactly that, with the parameters as read, and Azure never
# returns a SecureString's value: the write fails, or leaves the secret blank and every
# scheduled PUT gets 403.)

resource "azurerm_resource_group" "this" {
  count    = var.create_resource_group ? 1 : 0
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

locals {
  resource_group_name = var.create_resource_group ? azurerm_resource_group.this[0].name : var.resource_group_name

  workflow_api_version = "2019-05-01"
  definition_schema    = "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#"
  template_schema      = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"

  names = { for group in keys(var.groups) : group => "${var.name_prefix}-${group}" }

  # The Recurrence trigger's `recurrence`, as Recurrence.to_definition() writes it.
  schedules = {
    for group, g in var.groups : group => merge(
      length(g.hours) > 0 ? { hours = g.hours } : {},
      length(g.minutes) > 0 ? { minutes = g.minutes } : {},
      length(g.week_days) > 0 ? { weekDays = g.week_days } : {},
    )
  }
  recurrences = {
    for group, g in var.groups : group => merge(
      { frequency = g.frequency, interval = g.interval, timeZone = g.time_zone },
      g.start_time == null ? {} : { startTime = g.start_time },
      length(local.schedules[group]) == 0 ? {} : { schedule = local.schedules[group] },
    )
  }

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
        # scheduledTime is the slot the recurrence fired for, not when the run started
        # (see README): it names the run, so a retry opens no second run. A run started
        # by hand has no scheduledTime; the time it fired names it then.
        body = {
          scheduled_time = "@{coalesce(trigger()?['scheduledTime'], trigger().startTime)}"
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

  # workflow_definition() in triggers/azure.py, for the same recurrence.
  definitions = {
    for group, g in var.groups : group => {
      "$schema"      = local.definition_schema
      contentVersion = "1.0.0.0"
      parameters     = { userAgent = { type = "SecureString" } }
      triggers       = { Schedule = { type = "Recurrence", recurrence = local.recurrences[group] } }
      actions        = { Put_trigger = local.put_actions[group] }
      outputs        = {}
    }
  }

  # One Microsoft.Logic/workflows resource, whole, with the secret bound from the
  # template's secureString parameter (never stored in the template, never returned).
  # The outputs report the workflow's id and the addresses it sends from.
  templates = {
    for group, g in var.groups : group => {
      "$schema"      = local.template_schema
      contentVersion = "1.0.0.0"
      parameters     = { userAgent = { type = "secureString" } }
      resources = [{
        type       = "Microsoft.Logic/workflows"
        apiVersion = local.workflow_api_version
        name       = local.names[group]
        location   = var.location
        tags       = merge(var.tags, { "cronbridge-group" = group })
        properties = {
          state      = g.enabled ? "Enabled" : "Disabled"
          definition = local.definitions[group]
          parameters = { userAgent = { type = "SecureString", value = "[parameters('userAgent')]" } }
        }
      }]
      outputs = {
        workflowId = {
          type  = "string"
          value = "[resourceId('Microsoft.Logic/workflows', '${local.names[group]}')]"
        }
        outboundIpAddresses = {
          type  = "array"
          value = "[reference(resourceId('Microsoft.Logic/workflows', '${local.names[group]}'), '${local.workflow_api_version}').endpointsConfiguration.workflow.outgoingIpAddresses]"
        }
      }
    }
  }
}

resource "azurerm_resource_group_template_deployment" "workflow" {
  for_each            = var.groups
  name                = local.names[each.key]
  resource_group_name = local.resource_group_name
  # Incremental: the template adds or replaces its one workflow and leaves everything
  # else in the resource group alone (Complete would delete the rest).
  deployment_mode  = "Incremental"
  tags             = merge(var.tags, { "cronbridge-group" = each.key })
  template_content = jsonencode(local.templates[each.key])
  # The secret's only way in. Azure never returns a secureString, so the provider reads
  # back {"userAgent": {}} and every plan shows this argument changing (sensitive): the
  # apply is the same single PUT, with the secret (see README).
  parameters_content = jsonencode({ userAgent = { value = var.user_agent_secret } })

  lifecycle {
    precondition {
      condition     = length(local.names[each.key]) <= 64
      error_message = "the deployment is named like its Logic App, <name_prefix>-<group>, and ARM allows 64 characters: shorten name_prefix or the group name."
    }
  }
}

# Earlier versions built each workflow from azurerm_logic_app_workflow,
# azurerm_logic_app_trigger_recurrence and azurerm_logic_app_action_custom. On upgrade,
# forget them without deleting anything: the deployment above rewrites the same-named
# workflow whole, in one PUT, and owns it from then on.
removed {
  from = azurerm_logic_app_workflow.group
  lifecycle {
    destroy = false
  }
}

removed {
  from = azurerm_logic_app_trigger_recurrence.schedule
  lifecycle {
    destroy = false
  }
}

removed {
  from = azurerm_logic_app_action_custom.put_trigger
  lifecycle {
    destroy = false
  }
}
