variable "prefix" {
  description = "Names every resource: <prefix>-triggers, <prefix>-state, <prefix>-ledger, <prefix>-dispatcher, <prefix>-results, ... Bucket names are global, so make it yours."
  type        = string
  default     = "cronbridge"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 3-42 characters of a-z, 0-9 and '-', starting and ending with a letter or digit."
  }
}

variable "auth_mode" {
  description = "Who may PUT a trigger without AWS credentials: user_agent (anyone sending the secret User-Agent, over TLS), source_ip (the same, and only from allowed_source_ips), or iam (nobody: signed requests only)."
  type        = string

  validation {
    condition     = contains(["user_agent", "source_ip", "iam"], var.auth_mode)
    error_message = "auth_mode must be user_agent, source_ip or iam."
  }
}

variable "user_agent_secret" {
  description = "The User-Agent a scheduler must send. Leave null to have one generated (read it from the user_agent_secret output)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.user_agent_secret == null || can(regex("^[A-Za-z0-9._~-]{24,128}$", var.user_agent_secret))
    error_message = "user_agent_secret must be 24-128 characters of A-Z, a-z, 0-9 and . _ ~ -"
  }
}

variable "previous_user_agent_secret" {
  description = "During a rotation, the secret being retired: both are accepted until you set this back to null."
  type        = string
  default     = null
  sensitive   = true
}

variable "allowed_source_ips" {
  description = "source_ip mode: the CIDRs (or bare addresses) schedulers PUT from, e.g. the Logic Apps' outbound addresses."
  type        = list(string)
  default     = []
}

variable "workers" {
  description = <<-EOT
    Worker functions, by the name a group's `lambda:` target uses. Give either function_name
    (a function you deploy; add role_name so its results can reach the results queue) or
    source_dir + handler (the module zips and deploys it). max_attempts is the group's
    (1-3): Lambda retries a failed job max_attempts - 1 times.
  EOT
  type = map(object({
    function_name        = optional(string)
    role_name            = optional(string)
    source_dir           = optional(string)
    handler              = optional(string)
    runtime              = optional(string, "python3.12")
    architecture         = optional(string, "arm64")
    memory_size          = optional(number, 256)
    timeout              = optional(number, 60)
    environment          = optional(map(string), {})
    reserved_concurrency = optional(number)
    max_attempts         = optional(number, 3)
  }))
  default = {}

  validation {
    condition = alltrue([
      for w in values(var.workers) : (w.function_name == null) != (w.source_dir == null && w.handler == null)
    ])
    error_message = "each worker needs either function_name, or source_dir and handler, not both."
  }
  validation {
    condition     = alltrue([for w in values(var.workers) : w.max_attempts >= 1 && w.max_attempts <= 3])
    error_message = "max_attempts is 1 to 3: Lambda retries an asynchronous invocation at most twice."
  }
  validation {
    condition     = alltrue([for w in values(var.workers) : w.function_name != null || (w.source_dir != null && w.handler != null)])
    error_message = "a worker the module deploys needs both source_dir and handler."
  }
  validation {
    condition     = alltrue([for w in values(var.workers) : contains(["arm64", "x86_64"], w.architecture)])
    error_message = "a worker's architecture is arm64 or x86_64 (x86_64 for native dependencies built only for it)."
  }
}

variable "worker_queue_arns" {
  description = "SQS queues that groups' `sqs:` targets name; the publisher may send to these and no others."
  type        = list(string)
  default     = []
}

variable "schedules" {
  description = "Optional EventBridge Scheduler schedules that PUT triggers/<group>, signed, so they work in every auth_mode. expression is cron(...), rate(...) or at(...)."
  type = map(object({
    group      = string
    expression = string
    timezone   = optional(string, "UTC")
    enabled    = optional(bool, true)
  }))
  default = {}

  validation {
    condition     = alltrue([for s in values(var.schedules) : can(regex("^[a-z0-9][a-z0-9-]{0,62}$", s.group))])
    error_message = "a schedule's group must match ^[a-z0-9][a-z0-9-]{0,62}$."
  }
  validation {
    condition     = alltrue([for name in keys(var.schedules) : can(regex("^[a-z0-9][a-z0-9-]{0,40}$", name))])
    error_message = "schedule names are 1-41 characters of a-z, 0-9 and '-'."
  }
}

variable "worker_event_age_seconds" {
  description = "How long Lambda keeps a worker's asynchronous event (queued or between retries) before giving up on it; the runs' deadlines count on it."
  type        = number
  default     = 21600

  validation {
    condition     = var.worker_event_age_seconds >= 60 && var.worker_event_age_seconds <= 21600 && floor(var.worker_event_age_seconds) == var.worker_event_age_seconds
    error_message = "worker_event_age_seconds is a whole number of seconds from 60 to 21600 (6 hours), as Lambda allows."
  }
}

variable "results_batch_size" {
  description = "The most destination records the recorder receives from the results queue in one invocation."
  type        = number
  default     = 1000

  validation {
    condition     = var.results_batch_size >= 1 && var.results_batch_size <= 10000 && floor(var.results_batch_size) == var.results_batch_size
    error_message = "results_batch_size is a whole number from 1 to 10000."
  }
}

variable "results_batching_window_seconds" {
  description = "How long the results queue's mapping gathers records before invoking the recorder (unless the batch fills first). Longer means fuller batches and fewer recorder invocations; a run's end is known up to this much later."
  type        = number
  default     = 2

  validation {
    condition     = var.results_batching_window_seconds >= 0 && var.results_batching_window_seconds <= 300 && floor(var.results_batching_window_seconds) == var.results_batching_window_seconds
    error_message = "results_batching_window_seconds is a whole number from 0 to 300."
  }
  validation {
    condition     = var.results_batch_size <= 10 || var.results_batching_window_seconds >= 1
    error_message = "AWS requires a batching window of at least 1 second when results_batch_size is over 10."
  }
}

variable "recorder_max_concurrency" {
  description = "The most recorder invocations the results queue's mapping runs at once. Ten record about 29,000 results a second (bench/RESULTS.md); each takes one of the account's concurrency while it runs."
  type        = number
  default     = 10

  validation {
    condition     = var.recorder_max_concurrency >= 2 && var.recorder_max_concurrency <= 1000 && floor(var.recorder_max_concurrency) == var.recorder_max_concurrency
    error_message = "recorder_max_concurrency is a whole number from 2 to 1000, as SQS event sources allow."
  }
}

variable "results_max_receive_count" {
  description = "How often a destination record may come back from the recorder before it goes to the results DLQ."
  type        = number
  default     = 5

  validation {
    condition     = var.results_max_receive_count >= 1 && var.results_max_receive_count <= 1000 && floor(var.results_max_receive_count) == var.results_max_receive_count
    error_message = "results_max_receive_count is a whole number from 1 to 1000."
  }
}

variable "sweep_schedule" {
  description = "When EventBridge invokes the sweeper, which ends runs past their deadline: rate(...) or cron(...)."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.sweep_schedule))
    error_message = "sweep_schedule is an EventBridge schedule expression: rate(...) or cron(...)."
  }
}

variable "dispatcher_reserved_concurrency" {
  description = "Environments kept for the dispatcher alone, so a burst of workers cannot leave a trigger waiting. Null reserves none. Every reservation comes out of the account's concurrency, and AWS keeps at least 100 unreserved: a new account (whose quota may be as low as 10) cannot reserve any until the quota is raised."
  type        = number
  default     = null

  validation {
    condition     = var.dispatcher_reserved_concurrency == null || try(var.dispatcher_reserved_concurrency >= 1, false)
    error_message = "dispatcher_reserved_concurrency is null or at least 1."
  }
}

variable "recorder_reserved_concurrency" {
  description = "Environments kept for the recorder alone, so a burst of workers cannot stall recording. Null reserves none; set it at least recorder_max_concurrency. As for the dispatcher, it comes out of the account's concurrency, with at least 100 left unreserved."
  type        = number
  default     = null

  validation {
    condition     = var.recorder_reserved_concurrency == null || try(var.recorder_reserved_concurrency >= 2, false)
    error_message = "recorder_reserved_concurrency is null or at least 2 (the results queue's mapping runs at least two)."
  }
}

variable "paced_wakes_max_concurrency" {
  description = "The most publisher invocations the pacing queue's mapping runs at once: paced runs' lanes waking to hand over their next second's worth of jobs."
  type        = number
  default     = 20

  validation {
    condition     = var.paced_wakes_max_concurrency >= 2 && var.paced_wakes_max_concurrency <= 1000 && floor(var.paced_wakes_max_concurrency) == var.paced_wakes_max_concurrency
    error_message = "paced_wakes_max_concurrency is a whole number from 2 to 1000, as SQS event sources allow."
  }
}

variable "publisher_memory_mb" {
  description = "Memory of the publisher; CPU grows with it, and a publisher is CPU-bound while it invokes."
  type        = number
  default     = 1024
}

variable "log_retention_days" {
  description = "How long the functions' CloudWatch logs are kept."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "A customer managed KMS key for the buckets, the ledger, the queues and the logs. Null uses AWS managed encryption."
  type        = string
  default     = null
}

variable "alert_email" {
  description = "An e-mail address to subscribe to the alerts topic (alerts_topic_arn), which the sweeper publishes run events to for alerts added with `cronbridge alerts add --sns-topic`. SNS mails a confirmation first. Null subscribes nobody."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$", var.alert_email))
    error_message = "alert_email is an e-mail address, such as ops@example.com, or null."
  }
}

variable "console_url" {
  description = "Where alerts link to a run: the address `cronbridge ui` serves on (its default is http://127.0.0.1:8790). The sweeper reads it as CRONBRIDGE_CONSOLE_URL."
  type        = string
  default     = "http://127.0.0.1:8790"

  validation {
    condition     = can(regex("^https?://[^/?#[:space:]]+(/[^?#[:space:]]*)?$", var.console_url))
    error_message = "console_url is an http or https address, such as http://127.0.0.1:8790."
  }
}

variable "alarm_actions" {
  description = "Where the alarms notify, e.g. an SNS topic ARN."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "code_root" {
  description = "The directory holding bridge/ and publishers/; the default is this repository."
  type        = string
  default     = null
}
