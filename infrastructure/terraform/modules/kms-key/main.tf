# A customer-managed KMS key with rotation, an alias and a key policy that delegates use to IAM;
# log_groups adds the statement CloudWatch Logs needs to encrypt those groups with it.
data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.this.json

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "this" {
  # A key policy's "*" resource is the key itself; the root-account statement is AWS's default,
  # delegating use to IAM policies so the key can never become unmanageable.
  # checkov:skip=CKV_AWS_109: key policy, see above
  # checkov:skip=CKV_AWS_111: key policy, see above
  # checkov:skip=CKV_AWS_356: key policy, see above
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # The logs service uses the key only for the named groups (the encryption context carries
  # the log group's ARN).
  dynamic "statement" {
    for_each = length(var.log_groups) > 0 ? [var.log_groups] : []

    content {
      sid       = "CloudWatchLogs"
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logs.${local.region}.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = [for group in statement.value : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${group}"]
      }
    }
  }
}
