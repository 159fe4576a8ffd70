variable "aws_region" {
  description = "Where the pipeline runs."
  type        = string
}

variable "prefix" {
  description = "Names every AWS resource; bucket names are global, so make it yours."
  type        = string
}

variable "auth_mode" {
  description = "source_ip (default: the secret User-Agent AND the Logic Apps' outbound addresses; Block Public Access stays on) or user_agent (the secret alone; needs the account to allow public bucket policies). iam mode admits only signed requests, which Logic Apps cannot send: use the AWS module's schedules instead."
  type        = string
  default     = "source_ip"

  validation {
    condition     = contains(["source_ip", "user_agent"], var.auth_mode)
    error_message = "this example schedules from Azure, whose HTTP action cannot sign AWS requests: auth_mode must be source_ip or user_agent."
  }
}

variable "azure_subscription_id" {
  description = "The subscription the Logic Apps live in."
  type        = string
}

variable "azure_location" {
  description = "Azure region of the Logic Apps."
  type        = string
}

variable "azure_resource_group" {
  description = "Created for the Logic Apps."
  type        = string
  default     = "cronbridge-triggers"
}

variable "groups" {
  description = "Schedules, by group name (see modules/azure_trigger)."
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
}

variable "workers" {
  description = "Worker functions by the name groups' lambda: targets use (see modules/aws)."
  type = map(object({
    function_name        = optional(string)
    role_name            = optional(string)
    source_dir           = optional(string)
    handler              = optional(string)
    runtime              = optional(string, "python3.12")
    memory_size          = optional(number, 256)
    timeout              = optional(number, 60)
    environment          = optional(map(string), {})
    reserved_concurrency = optional(number)
    max_attempts         = optional(number, 3)
  }))
  default = {}
}

variable "alarm_actions" {
  description = "Where alarms notify, e.g. an SNS topic ARN."
  type        = list(string)
  default     = []
}

variable "alert_email" {
  description = "An e-mail address subscribed to the alerts topic (see modules/aws); null subscribes nobody."
  type        = string
  default     = null
}
