# The trigger bucket: the only door a scheduler knocks on. It holds nothing but
# triggers/<group> objects, keeps them a day, and no function of ours writes to it.

resource "aws_s3_bucket" "trigger" {
  # checkov:skip=CKV_AWS_18:Access logs would record every trigger PUT a second time; CloudTrail data events are the audit trail for this bucket.
  # checkov:skip=CKV_AWS_144:A trigger is a one-day, one-region signal; a replica in another region would start nothing.
  # checkov:skip=CKV2_AWS_6:It has one (aws_s3_bucket_public_access_block.trigger); user_agent mode turns its policy settings off, as that mode requires.
  # checkov:skip=CKV_AWS_21:Objects expire after a day and are never read back; versions would only keep dead triggers.
  # checkov:skip=CKV_AWS_145:S3 refuses an anonymous (User-Agent) PUT to an SSE-KMS bucket; it holds only one-day schedule signals, SSE-S3 encrypted.
  bucket        = local.names.trigger_bucket
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "trigger" {
  bucket = aws_s3_bucket.trigger.bucket
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-S3, whatever kms_key_arn says: S3 refuses an anonymous PUT to a bucket whose
# default encryption is SSE-KMS, so with a KMS default no scheduler could trigger.
# A trigger holds at most 4 KiB of schedule metadata; the state bucket and the ledger
# take the customer key.
resource "aws_s3_bucket_server_side_encryption_configuration" "trigger" {
  bucket = aws_s3_bucket.trigger.bucket
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "trigger" {
  bucket = aws_s3_bucket.trigger.bucket
  rule {
    id     = "expire-triggers"
    status = "Enabled"
    filter {}
    expiration {
      days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# user_agent mode: S3 counts a policy whose only condition is aws:UserAgent as public,
# so BlockPublicPolicy and RestrictPublicBuckets must be off here AND at the account
# level (aws_s3_account_public_access_block, outside this module). source_ip and iam
# modes need no public access: everything stays blocked.
resource "aws_s3_bucket_public_access_block" "trigger" {
  # checkov:skip=CKV_AWS_56:user_agent mode needs a public policy (see above); in source_ip and iam modes this is true.
  # checkov:skip=CKV_AWS_54:Off only in user_agent mode, whose User-Agent-only policy S3 counts as public; on in source_ip and iam modes.
  bucket                  = aws_s3_bucket.trigger.bucket
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = var.auth_mode != "user_agent"
  restrict_public_buckets = var.auth_mode != "user_agent"
}

locals {
  # The secret anywhere in the User-Agent: nothing documents that Logic Apps (or a proxy,
  # or another scheduler's HTTP client) sends a custom User-Agent unchanged rather than
  # with something added, so it is matched as a substring. Secrets hold no * or ?.
  anonymous_conditions = merge(
    { StringLike = { "aws:UserAgent" = [for agent in local.user_agents : "*${agent}*"] } },
    var.auth_mode == "source_ip" ? { IpAddress = { "aws:SourceIp" = var.allowed_source_ips } } : {},
  )

  trigger_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "DenyWithoutTls"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:*"
          Resource  = [local.arn.trigger_bucket, "${local.arn.trigger_bucket}/*"]
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ],
      var.auth_mode == "iam" ? [] : [
        {
          Sid       = "SchedulersPutTriggers"
          Effect    = "Allow"
          Principal = "*"
          Action    = "s3:PutObject"
          Resource  = "${local.arn.trigger_bucket}/triggers/*"
          Condition = local.anonymous_conditions
        },
      ],
    )
  }
}

resource "aws_s3_bucket_policy" "trigger" {
  bucket = aws_s3_bucket.trigger.bucket
  policy = jsonencode(local.trigger_policy)

  # S3 refuses a public policy while BlockPublicPolicy is still on.
  depends_on = [aws_s3_bucket_public_access_block.trigger]

  lifecycle {
    precondition {
      condition     = var.auth_mode != "source_ip" || length(var.allowed_source_ips) > 0
      error_message = "source_ip mode needs allowed_source_ips: the addresses your scheduler PUTs from."
    }
  }
}

# The ONE notification of this bucket: S3 allows one configuration per bucket, and
# Terraform owns it here. Nothing else may write it.
resource "aws_s3_bucket_notification" "trigger" {
  bucket = aws_s3_bucket.trigger.bucket

  lambda_function {
    lambda_function_arn = aws_lambda_function.core["dispatcher"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "triggers/"
  }

  depends_on = [aws_lambda_permission.trigger_bucket]
}

resource "aws_lambda_permission" "trigger_bucket" {
  statement_id   = "TriggerBucketInvokes"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.core["dispatcher"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = local.arn.trigger_bucket
  source_account = local.account
}
