{{/*
Helpers shared by every chart under infrastructure/helm, which each declare this library chart
as a dependency. They run in the including chart's context: `.Chart`, `.Release` and `.Values`
are that chart's.
*/}}

{{- define "platform.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "platform.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "platform.labels" -}}
{{ include "platform.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlops-platform
mlops-platform/environment: {{ .Values.environment }}
{{- end -}}

{{/* The platform image: the tag defaults to the chart's appVersion (= the package version). */}}
{{- define "platform.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository ($image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "platform.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "platform.fullname" .) -}}
{{- end -}}

{{- define "platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "platform.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Vault Agent injector annotations. The agent logs in with a projected, audience-bound service
account token (volume "vault-token"), so the pods keep automountServiceAccountToken: false.
Secrets render under /vault/secrets/<name>, owned by the app's uid with mode 0400. Each
`secrets` entry names a template in the chart's files/vault/<name>.ctmpl (mirrors of
secrets/vault/agent/templates); the agent has no MLOPS_ENV, so the environment is written in.
`rendered` entries carry a template the chart built itself.
Arguments: dict "ctx" $ "role" <vault role> "secrets" <list of {name, area}>
"rendered" <list of {name, area, template}, optional> "job" <bool>.
*/}}
{{- define "platform.vaultAnnotations" -}}
{{- $ctx := .ctx -}}
{{- $vault := $ctx.Values.vault -}}
vault.hashicorp.com/agent-inject: "true"
vault.hashicorp.com/role: {{ .role | quote }}
vault.hashicorp.com/service: {{ $vault.address | quote }}
vault.hashicorp.com/auth-path: {{ $vault.authPath | quote }}
vault.hashicorp.com/agent-service-account-token-volume-name: vault-token
vault.hashicorp.com/agent-init-first: "true"
vault.hashicorp.com/agent-run-as-user: "10001"
vault.hashicorp.com/agent-run-as-group: "10001"
{{- /* The injected agent containers get a restricted securityContext (non-root, no privilege
escalation, all capabilities dropped, read-only root): the namespaces enforce Pod Security
"restricted". This is the injector's default, written out so nobody turns it off unnoticed. */}}
vault.hashicorp.com/agent-set-security-context: "true"
vault.hashicorp.com/agent-requests-cpu: {{ $vault.agentResources.requests.cpu | quote }}
vault.hashicorp.com/agent-requests-mem: {{ $vault.agentResources.requests.memory | quote }}
vault.hashicorp.com/agent-limits-cpu: {{ $vault.agentResources.limits.cpu | quote }}
vault.hashicorp.com/agent-limits-mem: {{ $vault.agentResources.limits.memory | quote }}
{{- with include "platform.vaultCaSecret" $ctx }}
{{- /* Vault's certificate comes from a private CA: the injector mounts this secret at /vault/tls
in its agent containers, and the agent verifies Vault with ca.crt from it. */}}
vault.hashicorp.com/tls-secret: {{ . | quote }}
vault.hashicorp.com/ca-cert: {{ include "platform.vaultCaCertPath" $ctx | quote }}
{{- end }}
{{- if .job }}
{{- /* A Job must end: render once in the init container, no sidecar. */}}
vault.hashicorp.com/agent-pre-populate-only: "true"
{{- end }}
{{- $entries := list }}
{{- range .secrets }}
{{- $template := $ctx.Files.Get (printf "files/vault/%s.ctmpl" .name) }}
{{- if not $template }}
{{- fail (printf "vault secret %q: the chart has no files/vault/%s.ctmpl" .name .name) }}
{{- end }}
{{- $template = $template | replace "(env \"MLOPS_ENV\")" (quote $ctx.Values.environment) }}
{{- $entries = append $entries (dict "name" .name "area" .area "template" $template) }}
{{- end }}
{{- range concat $entries (.rendered | default list) }}
vault.hashicorp.com/agent-inject-secret-{{ .name }}: {{ printf "secret/data/mlops/%s/%s" $ctx.Values.environment .area | quote }}
vault.hashicorp.com/agent-inject-template-{{ .name }}: |
{{ .template | trim | indent 2 }}
vault.hashicorp.com/agent-inject-perms-{{ .name }}: "0400"
{{- end }}
{{- end -}}

{{- define "platform.vaultTokenVolume" -}}
- name: vault-token
  projected:
    sources:
      - serviceAccountToken:
          path: token
          audience: {{ .Values.vault.audience | quote }}
          expirationSeconds: 3600
{{- end -}}

{{/*
The CA that signed Vault's certificate, one setting for every chart (per environment in
values-<env>.yaml): `vault.caSecret` (default vault-ca) is a Secret in the release's namespace
with key ca.crt (bootstrap.md, stage 2, creates it); `vault.caCertPath` (default
/vault/tls/ca.crt) is where both the injected agent (the injector mounts tls-secret at
/vault/tls) and the app containers (platform.vaultCaVolume, mounted at the same folder) read
it. `caSecret: ""` turns the wiring off, for a Vault listening on plain http only: the policy
vault/ca-cert (infrastructure/policies/vault_ca.rego) fails any https Vault without it.
*/}}
{{- define "platform.vaultCaSecret" -}}
{{- if hasKey .Values.vault "caSecret" -}}
{{- .Values.vault.caSecret -}}
{{- else -}}
vault-ca
{{- end -}}
{{- end -}}

{{- define "platform.vaultCaCertPath" -}}
{{- .Values.vault.caCertPath | default "/vault/tls/ca.crt" -}}
{{- end -}}

{{/* VAULT_CACERT for a container that talks to Vault itself (hvac, `mlops secrets`, vault:// references). */}}
{{- define "platform.vaultCaEnv" -}}
{{- if include "platform.vaultCaSecret" . -}}
- name: VAULT_CACERT
  value: {{ include "platform.vaultCaCertPath" . | quote }}
{{- end }}
{{- end -}}

{{- define "platform.vaultCaVolumeMount" -}}
{{- if include "platform.vaultCaSecret" . -}}
- name: vault-ca
  mountPath: {{ include "platform.vaultCaCertPath" . | dir }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "platform.vaultCaVolume" -}}
{{- with include "platform.vaultCaSecret" . -}}
- name: vault-ca
  secret:
    secretName: {{ . }}
    defaultMode: 0444
{{- end }}
{{- end -}}

{{/*
Container command that exports the Vault-rendered env files (the `secrets` entries named
*.env, KEY=value lines) and then runs `run` in the same shell; secrets stay out of the pod spec.
Arguments: dict "secrets" <vault.secrets> "run" <shell command> "name" <$0 for "$@">.
*/}}
{{- define "platform.envFileCommand" -}}
{{- $steps := list "set -a" -}}
{{- range .secrets -}}
{{- if hasSuffix ".env" .name -}}
{{- $steps = append $steps (printf ". /vault/secrets/%s" .name) -}}
{{- end -}}
{{- end -}}
{{- $steps = concat $steps (list "set +a" .run) -}}
- /bin/sh
- -c
- {{ join " && " $steps | quote }}
- {{ .name }}
{{- end -}}

{{/*
One NetworkPolicy egress rule: {namespace, podLabels, ports} for an in-cluster service,
{cidr, except, ports} for an external one, or {terraform: postgres, ports} for the subnets
Terraform put the registry database in (global.platform.postgres.cidrs). `namespace` may use the
environment ("mlops-{{ .Values.environment }}"). Arguments: dict "ctx" $ "target" <target>.
*/}}
{{- define "platform.egressRule" -}}
{{- $t := .target -}}
- to:
    {{- if $t.terraform }}
    {{- $cidrs := (include "platform.terraformValue" (dict "ctx" .ctx "key" (printf "%s.cidrs" $t.terraform)) | fromYamlArray) }}
    {{- range $cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
    {{- else if $t.cidr }}
    - ipBlock:
        cidr: {{ $t.cidr }}
        {{- with $t.except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
    {{- else }}
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ tpl $t.namespace .ctx }}
      {{- with $t.podLabels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
    {{- end }}
  ports:
    {{- range $t.ports }}
    - protocol: {{ .protocol | default "TCP" }}
      port: {{ .port }}
    {{- end }}
{{- end -}}

{{/* The default-deny policy for every pod of the release: only the explicit allows apply. */}}
{{- define "platform.defaultDenyPolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "platform.fullname" . }}-default-deny
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "platform.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "platform.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
{{- end -}}

{{/*
The chart's alerts as a PrometheusRule (Prometheus Operator). Every alert of the platform carries
the same parts: a severity label, summary and description annotations, and a runbook_url to
<alerts.runbookBaseUrl>/<alert name in kebab case>.md (observability/runbooks/ in the repository).
`alerts.ruleLabels` go on the object, for the Prometheus' ruleSelector.
Arguments: dict "ctx" $ "groups" <list of {name, rules}>; a rule is {alert, expr, for, severity,
summary, description}. Summary and description may use Prometheus' own templating
({{ $labels.x }}, {{ $value }}), escaped from Helm by the caller.
*/}}
{{- define "platform.prometheusRule" -}}
{{- $ctx := .ctx -}}
{{- $alerts := $ctx.Values.alerts -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "platform.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "platform.labels" $ctx | nindent 4 }}
    {{- with $alerts.ruleLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    {{- range .groups }}
    - name: {{ .name }}
      rules:
        {{- range .rules }}
        - alert: {{ required "an alert needs a name" .alert }}
          expr: |-
            {{- required (printf "%s: no expr" .alert) .expr | trim | nindent 12 }}
          for: {{ required (printf "%s: no for" .alert) .for }}
          labels:
            severity: {{ required (printf "%s: no severity" .alert) .severity }}
          annotations:
            summary: {{ required (printf "%s: no summary" .alert) .summary | quote }}
            description: {{ required (printf "%s: no description" .alert) .description | trim | quote }}
            runbook_url: {{ printf "%s/%s.md" (trimSuffix "/" $alerts.runbookBaseUrl) (kebabcase .alert) | quote }}
        {{- end }}
    {{- end }}
{{- end -}}


{{/*
What Terraform built for this environment: `global.platform`, from
infrastructure/helm/environments/<env>.yaml (the live root's `helm_values` output), which Argo CD
adds to every Application's valueFiles. A chart names no host, bucket or role of its own.
platform.terraformValue: the value at a dotted key under global.platform, as YAML (a missing key
fails the render, naming it and the file that should set it). Arguments: dict "ctx" $ "key" <a.b.c>.
*/}}
{{- define "platform.terraformValue" -}}
{{- $node := (.ctx.Values.global | default dict).platform -}}
{{- range splitList "." .key -}}
{{- if not (kindIs "map" $node) -}}
{{- $node = dict -}}
{{- end -}}
{{- $node = index $node . -}}
{{- end -}}
{{- if kindIs "invalid" $node -}}
{{- fail (printf "global.platform.%s is not set: it comes from infrastructure/helm/environments/%s.yaml (terraform output helm_values), which Argo CD passes to every chart; render with that file" .key .ctx.Values.environment) -}}
{{- end -}}
{{- if or (kindIs "map" $node) (kindIs "slice" $node) -}}
{{- toYaml $node -}}
{{- else -}}
{{- $node -}}
{{- end -}}
{{- end -}}

{{/* The registry database (RDS) host and port. */}}
{{- define "platform.postgresHost" -}}
{{- include "platform.terraformValue" (dict "ctx" . "key" "postgres.host") -}}
{{- end -}}

{{- define "platform.postgresPort" -}}
{{- include "platform.terraformValue" (dict "ctx" . "key" "postgres.port") -}}
{{- end -}}

{{/* A bucket's name by purpose (artifacts, backups). Arguments: dict "ctx" $ "name" <purpose>. */}}
{{- define "platform.bucket" -}}
{{- include "platform.terraformValue" (dict "ctx" .ctx "key" (printf "buckets.%s" .name)) -}}
{{- end -}}

{{/*
The chart's ServiceAccount annotations: serviceAccount.annotations plus, when Terraform gave the
service account an IRSA role (global.platform.serviceAccounts.<name>), eks.amazonaws.com/role-arn.
*/}}
{{- define "platform.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy (.Values.serviceAccount.annotations | default dict) -}}
{{- $roles := ((.Values.global | default dict).platform | default dict).serviceAccounts | default dict -}}
{{- with index $roles (include "platform.serviceAccountName" .) -}}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" . -}}
{{- end -}}
{{- with $annotations -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/*
The platform state folder (the platform config's state_dir) in the cluster: config/environments/
staging.yaml and prod.yaml put it under /tmp, since the image's /app is root-owned and the root
filesystem read-only; dev keeps the relative .mlops under /app. Pods mount a writable volume here
(the `consistency` check of make validate-infra compares it with the config).
*/}}
{{- define "platform.stateDir" -}}
{{- if eq .Values.environment "dev" -}}
/app/.mlops
{{- else -}}
/tmp/mlops
{{- end -}}
{{- end -}}

{{/*
The non-secret variables the cluster Feast config (feature_store/registry/cluster.yaml) reads for
PostgreSQL: the registry database Terraform built, and the chart's feast.registryUser and
feast.offlineUser. The passwords come from the Vault env file feast-postgres.env.
*/}}
{{- define "platform.feastPostgresEnv" -}}
- name: FEAST_POSTGRES_HOST
  value: {{ include "platform.postgresHost" . | quote }}
- name: FEAST_REGISTRY_USER
  value: {{ .Values.feast.registryUser | quote }}
- name: FEAST_OFFLINE_USER
  value: {{ .Values.feast.offlineUser | quote }}
{{- end -}}
