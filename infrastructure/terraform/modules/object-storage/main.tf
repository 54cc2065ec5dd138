data "aws_caller_identity" "current" {}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  bucket_names = { for purpose in keys(var.buckets) : purpose => "${var.name}-${purpose}-${local.account_id}" }
  log_bucket   = "${var.name}-s3-access-logs-${local.account_id}"

  # The baseline below (ownership, public access, versioning, TLS-only policy) covers every bucket
  # of the module, the access-log bucket included; a data bucket cannot be named s3-access-logs
  # because that name is the log bucket's.
  all_buckets = merge(aws_s3_bucket.this, { "s3-access-logs" = aws_s3_bucket.logs })
}

# ---------------------------------------------------------------------------- encryption key
# Access is granted by IAM policies (workload roles), which the key policy delegates to.
module "key" {
  source = "../kms-key"

  alias       = "${var.name}-buckets"
  description = "${var.name} artifact and backup buckets"
  tags        = var.tags
}

# ---------------------------------------------------------------------------- data buckets
resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144: single-region platform; versioning with noncurrent-version retention covers deletion and overwrite, and cross-region DR is not part of this stack.
  # checkov:skip=CKV2_AWS_62: nothing consumes object events; training, batch and backup jobs are scheduled.
  for_each = local.bucket_names

  bucket = each.value
  # Object Lock can only be turned on when a bucket is created (it also turns versioning on).
  object_lock_enabled = var.buckets[each.key].object_lock_days != null

  tags = merge(var.tags, { Name = each.value, purpose = each.key })
}

# Write-once for object_lock_days: no version of an object in these buckets can be deleted or
# overwritten before then, so a compromised writer (or a mistaken prune) cannot destroy the
# backups. Governance mode: an administrator holding s3:BypassGovernanceRetention can still
# remove a version, which compliance mode would forbid even to the account's root user.
resource "aws_s3_bucket_object_lock_configuration" "this" {
  for_each = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket if var.buckets[purpose].object_lock_days != null }

  bucket = each.value.id

  rule {
    default_retention {
      mode = "GOVERNANCE"
      days = var.buckets[each.key].object_lock_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.all_buckets

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.all_buckets

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.all_buckets

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.key.arn
    }
    # One KMS request per bucket key instead of per object: same protection, far fewer KMS calls.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "tiering-and-versions"
    status = "Enabled"

    filter {}

    transition {
      days          = var.buckets[each.key].transition_days
      storage_class = var.buckets[each.key].transition_storage_class
    }

    dynamic "expiration" {
      for_each = var.buckets[each.key].expiration_days == null ? [] : [var.buckets[each.key].expiration_days]

      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.buckets[each.key].noncurrent_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "expired-delete-markers"
    status = "Enabled"

    filter {}

    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  for_each = aws_s3_bucket.this

  bucket        = each.value.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${each.key}/"
}

# HTTPS with TLS 1.2 or later only, for every bucket.
data "aws_iam_policy_document" "transport" {
  for_each = local.all_buckets

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this

  source_policy_documents = [data.aws_iam_policy_document.transport[each.key].json]

  # Objects are only ever written with this bucket's key, never with SSE-S3 or another key.
  statement {
    sid       = "DenyNonKmsEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${each.value.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyOtherEncryptionKeys"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${each.value.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [module.key.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# ---------------------------------------------------------------------------- access logs
# The log bucket itself cannot use SSE-KMS (S3 server access log delivery supports SSE-S3 only)
# and does not log to itself.
resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18: this is the access-log target; logging it to itself would loop.
  # checkov:skip=CKV_AWS_145: S3 server access log delivery only supports SSE-S3 on the target bucket.
  # checkov:skip=CKV_AWS_144: logs stay in the region of the buckets they describe.
  # checkov:skip=CKV2_AWS_62: nothing consumes events for access-log objects.
  bucket = local.log_bucket

  tags = merge(var.tags, { Name = local.log_bucket, purpose = "s3-access-logs" })
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "retention"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "logs" {
  source_policy_documents = [data.aws_iam_policy_document.transport["s3-access-logs"].json]

  statement {
    sid       = "S3ServerAccessLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for b in aws_s3_bucket.this : b.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
