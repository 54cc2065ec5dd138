variable "alias" {
  description = "Alias name without the alias/ prefix."
  type        = string

  validation {
    condition     = !startswith(var.alias, "alias/") && !startswith(var.alias, "aws/")
    error_message = "Give the alias without alias/; the aws/ prefix is reserved for AWS-managed keys."
  }
}

variable "description" {
  description = "What the key encrypts."
  type        = string
}

variable "log_groups" {
  description = "CloudWatch log group names (wildcards allowed) the logs service may encrypt with this key."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
}
