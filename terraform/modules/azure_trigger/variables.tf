variable "location" {
  description = "Azure region of the Logic Apps, e.g. japaneast."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group for the Logic Apps."
  type        = string
}

variable "name_prefix" {
  description = "Names each Logic App, and the deployment that writes it, <name_prefix>-<group>, so two deployments can share a resource group. `cronbridge azure deploy-trigger|list|delete --prefix` takes the same value."
  type        = string
  default     = "cronbridge"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-42 characters of a-z, 0-9 and '-', starting and ending with a letter or digit."
  }
}

variable "create_resource_group" {
  description = "Create resource_group_name here; false uses an existing one."
  type        = bool
  default     = true
}

variable "trigger_url" {
  description = "The AWS module's trigger_url output: the trigger bucket's https address. Each Logic App PUTs <trigger_url>/triggers/<group>."
  type        = string

  validation {
    condition     = can(regex("^https://[^/?#]+(/[^?#]*[^/?#])?$", var.trigger_url))
    error_message = "trigger_url must be an https address with no trailing slash, query or fragment."
  }
}

variable "user_agent_secret" {
  description = "The AWS module's user_agent_secret output: the User-Agent the trigger bucket admits."
  type        = string
  sensitive   = true
}

variable "groups" {
  description = <<-EOT
    One Logic App per group (the map key). frequency is Minute, Hour, Day, Week or Month;
    hours, minutes and week_days narrow it the way the Logic Apps recurrence trigger does
    (e.g. Day with hours = [3], minutes = [0] fires daily at 03:00 in time_zone).
  EOT
  type = map(object({
    frequency  = string
    interval   = optional(number, 1)
    hours      = optional(list(number), [])
    minutes    = optional(list(number), [])
    week_days  = optional(list(string), [])
    time_zone  = optional(string, "UTC")
    start_time = optional(string)
    enabled    = optional(bool, true)
  }))

  validation {
    condition     = alltrue([for g in keys(var.groups) : can(regex("^[a-z0-9][a-z0-9-]{0,62}$", g))])
    error_message = "group names must match ^[a-z0-9][a-z0-9-]{0,62}$."
  }
  validation {
    condition     = alltrue([for g in values(var.groups) : contains(["Minute", "Hour", "Day", "Week", "Month"], g.frequency) && g.interval >= 1])
    error_message = "frequency must be Minute, Hour, Day, Week or Month, and interval at least 1."
  }
  validation {
    condition = alltrue(flatten([for g in values(var.groups) : concat(
      [for h in g.hours : h >= 0 && h <= 23],
      [for m in g.minutes : m >= 0 && m <= 59],
      [for d in g.week_days : contains(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"], d)],
    )]))
    error_message = "hours are 0-23, minutes 0-59, week_days Monday to Sunday."
  }
}

variable "retry" {
  description = "The PUT action's retry policy (Logic Apps allows at most 90 retries; intervals are ISO 8601 durations)."
  type = object({
    count            = optional(number, 4)
    interval         = optional(string, "PT15S")
    maximum_interval = optional(string, "PT1H")
  })
  default = {}

  validation {
    condition     = var.retry.count >= 1 && var.retry.count <= 90
    error_message = "retry.count must be 1 to 90."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
