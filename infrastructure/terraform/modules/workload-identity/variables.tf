variable "name" {
  description = "Prefix of the role names (e.g. mlops-prod)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "IAM OIDC provider of the EKS cluster."
  type        = string
}

variable "oidc_issuer" {
  description = "OIDC issuer without scheme (prefix of the :sub and :aud condition keys)."
  type        = string
}

variable "workloads" {
  description = "IAM role per workload: the one service account that may assume it, and its permissions as a policy JSON."
  type = map(object({
    namespace       = string
    service_account = string
    policy_json     = string
  }))
}

variable "tags" {
  description = "Cost-allocation tags (also set as provider default_tags)."
  type        = map(string)
}
