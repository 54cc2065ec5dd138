# IRSA: a pod gets AWS permissions only through its own service account, never the node's role.
data "aws_iam_policy_document" "assume" {
  for_each = var.workloads

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = var.workloads

  name                 = "${var.name}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  max_session_duration = 3600

  tags = merge(var.tags, { workload = each.key })
}

resource "aws_iam_role_policy" "this" {
  for_each = var.workloads

  name   = each.key
  role   = aws_iam_role.this[each.key].id
  policy = each.value.policy_json
}
