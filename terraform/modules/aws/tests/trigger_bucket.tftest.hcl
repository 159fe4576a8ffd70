# The trigger bucket's policy and public-access settings, mode by mode.

mock_provider "aws" {
  source = "../../testing/aws"
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
}
mock_provider "archive" {}
mock_provider "random" {
  mock_resource "random_password" {
    defaults = { result = "generated0123456789generated0123456789ab" }
  }
}

variables {
  prefix                     = "acme-cb"
  user_agent_secret          = "current-secret-0123456789abcdef"
  previous_user_agent_secret = "retiring-secret-0123456789abcdef"
}

run "user_agent_mode_admits_only_the_secret_over_tls_on_triggers" {
  command = plan
  variables {
    auth_mode = "user_agent"
  }

  assert {
    condition     = length(jsondecode(aws_s3_bucket_policy.trigger.policy).Statement) == 2
    error_message = "user_agent mode has exactly the TLS deny and the anonymous PUT"
  }
  assert {
    condition = jsondecode(aws_s3_bucket_policy.trigger.policy).Statement[0] == {
      Sid       = "DenyWithoutTls"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = ["arn:aws:s3:::acme-cb-triggers", "arn:aws:s3:::acme-cb-triggers/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
    error_message = "every request without TLS is denied, on the bucket and its objects"
  }
  assert {
    condition = jsondecode(aws_s3_bucket_policy.trigger.policy).Statement[1] == {
      Sid       = "SchedulersPutTriggers"
      Effect    = "Allow"
      Principal = "*"
      Action    = "s3:PutObject"
      Resource  = "arn:aws:s3:::acme-cb-triggers/triggers/*"
      Condition = {
        StringLike = {
          "aws:UserAgent" = ["*current-secret-0123456789abcdef*", "*retiring-secret-0123456789abcdef*"]
        }
      }
    }
    error_message = "anyone may PutObject on triggers/* only, and only with one of the two secrets"
  }
  assert {
    condition = (
      aws_s3_bucket_public_access_block.trigger.block_public_acls &&
      aws_s3_bucket_public_access_block.trigger.ignore_public_acls &&
      !aws_s3_bucket_public_access_block.trigger.block_public_policy &&
      !aws_s3_bucket_public_access_block.trigger.restrict_public_buckets
    )
    error_message = "S3 counts a User-Agent-only policy as public: the policy settings must be off, ACLs stay blocked"
  }
  assert {
    condition     = output.auth_mode == "user_agent" && output.trigger_url == "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com"
    error_message = "the outputs name the mode and the bucket's TLS address"
  }
}

run "source_ip_mode_adds_the_addresses_and_keeps_public_access_blocked" {
  command = plan
  variables {
    auth_mode          = "source_ip"
    allowed_source_ips = ["20.1.2.3/32", "20.4.5.6"]
  }

  assert {
    condition = jsondecode(aws_s3_bucket_policy.trigger.policy).Statement[1].Condition == {
      StringLike = {
        "aws:UserAgent" = ["*current-secret-0123456789abcdef*", "*retiring-secret-0123456789abcdef*"]
      }
      IpAddress = { "aws:SourceIp" = ["20.1.2.3/32", "20.4.5.6"] }
    }
    error_message = "source_ip mode requires the secret AND one of the allowed addresses"
  }
  assert {
    condition = (
      aws_s3_bucket_public_access_block.trigger.block_public_acls &&
      aws_s3_bucket_public_access_block.trigger.ignore_public_acls &&
      aws_s3_bucket_public_access_block.trigger.block_public_policy &&
      aws_s3_bucket_public_access_block.trigger.restrict_public_buckets
    )
    error_message = "fixed source addresses make the policy non-public: every Block Public Access setting stays on"
  }
}

run "iam_mode_lets_nobody_in_anonymously" {
  command = plan
  variables {
    auth_mode = "iam"
  }

  assert {
    condition     = [for s in jsondecode(aws_s3_bucket_policy.trigger.policy).Statement : s.Sid] == ["DenyWithoutTls"]
    error_message = "iam mode keeps only the TLS deny: signed requests are allowed by IAM, nobody else"
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.trigger.block_public_policy && aws_s3_bucket_public_access_block.trigger.restrict_public_buckets
    error_message = "iam mode needs no public access"
  }
}

run "source_ip_mode_without_addresses_is_refused" {
  command = plan
  variables {
    auth_mode          = "source_ip"
    allowed_source_ips = []
  }
  expect_failures = [aws_s3_bucket_policy.trigger]
}

run "an_unknown_mode_is_refused" {
  command = plan
  variables {
    auth_mode = "open"
  }
  expect_failures = [var.auth_mode]
}

run "a_weak_secret_is_refused" {
  command = plan
  variables {
    auth_mode         = "user_agent"
    user_agent_secret = "short"
  }
  expect_failures = [var.user_agent_secret]
}

run "without_a_secret_one_is_generated_and_output" {
  variables {
    auth_mode                  = "user_agent"
    user_agent_secret          = null
    previous_user_agent_secret = null
  }

  assert {
    condition     = jsondecode(aws_s3_bucket_policy.trigger.policy).Statement[1].Condition.StringLike["aws:UserAgent"] == ["*generated0123456789generated0123456789ab*"]
    error_message = "the generated secret is the only one accepted"
  }
  assert {
    condition     = nonsensitive(output.user_agent_secret) == "generated0123456789generated0123456789ab"
    error_message = "the secret is an output, for `config from-terraform` and the Azure module"
  }
}

run "the_bucket_keeps_triggers_one_day_encrypted" {
  command = plan
  variables {
    auth_mode = "iam"
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.trigger.rule[0].expiration[0].days == 1 && aws_s3_bucket_lifecycle_configuration.trigger.rule[0].status == "Enabled"
    error_message = "trigger objects expire after one day"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.trigger.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "AES256"
    error_message = "objects are encrypted at rest"
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.trigger.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "anonymous writers never own objects: ACLs are disabled"
  }
}

run "a_customer_key_never_makes_the_trigger_bucket_sse_kms" {
  command = plan
  variables {
    auth_mode   = "user_agent"
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    # S3 refuses an anonymous PUT to a bucket whose default encryption is SSE-KMS.
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.trigger.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "AES256"
    error_message = "the trigger bucket stays SSE-S3 whatever the key"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.state.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "aws:kms"
    error_message = "the state bucket takes the customer key"
  }
}
