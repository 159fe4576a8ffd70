# The alerts topic (issue 13): the sweeper publishes one JSON message per run event
# (failed, lost, missed, late, stuck) to it for alerts added with `cronbridge alerts add
# --sns-topic <alerts_topic_arn>`; alert_email subscribes an address to it.

resource "aws_sns_topic" "alerts" {
  name = local.names.alerts_topic
  # SNS always encrypts at rest: with kms_key_arn, or else the AWS managed key for SNS.
  # The sweeper's role may use kms_key_arn (local.kms_statements); alias/aws/sns needs no
  # grant for principals of this account.
  kms_master_key_id = coalesce(var.kms_key_arn, "alias/aws/sns")
  tags              = local.tags
}

# Only principals of this account (with IAM rights of their own) may use the topic,
# and only over TLS. The policy replaces SNS's default one, which says the same with
# an AWS:SourceOwner condition on a "*" principal.
resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "ThisAccountOnly"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action = [
          "sns:GetTopicAttributes",
          "sns:SetTopicAttributes",
          "sns:AddPermission",
          "sns:RemovePermission",
          "sns:DeleteTopic",
          "sns:Subscribe",
          "sns:ListSubscriptionsByTopic",
          "sns:Publish",
        ]
        Resource = local.arn.alerts_topic
      },
      {
        Sid       = "DenyWithoutTls"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sns:Publish"
        Resource  = local.arn.alerts_topic
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

# E-mail asks its recipient to confirm; until then SNS delivers nothing to it, and
# Terraform records the subscription as pending.
resource "aws_sns_topic_subscription" "alert_email" {
  count     = var.alert_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}
