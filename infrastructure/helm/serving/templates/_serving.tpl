{{/*
One serving Deployment. Arguments: dict "ctx" $ "component" champion|shadow "shadow" <bool>
"replicas" <int or nil> "resources" <map>.
*/}}
{{- define "serving.deployment" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- $name := printf "%s-%s" (include "platform.fullname" $ctx) .component | trunc 63 | trimSuffix "-" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "platform.labels" $ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
  annotations:
    checkov.io/skip1: CKV_K8S_43=The image is pinned by its release tag, the chart appVersion (one version for package, image and chart); set image.digest to pin by digest.
spec:
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # A new pod is ready before an old one stops: capacity never drops during a rollout.
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "platform.selectorLabels" $ctx | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
  template:
    metadata:
      labels:
        {{- include "platform.selectorLabels" $ctx | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      annotations:
        {{- include "platform.vaultAnnotations" (dict "ctx" $ctx "role" $v.vault.role "secrets" $v.vault.secrets "job" false) | nindent 8 }}
    spec:
      serviceAccountName: {{ include "platform.serviceAccountName" $ctx }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "platform.podSecurityContext" $ctx | nindent 8 }}
      {{- if $v.topologySpread }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "platform.selectorLabels" $ctx | nindent 14 }}
              app.kubernetes.io/component: {{ .component }}
      {{- end }}
      containers:
        - name: serving
          image: {{ include "platform.image" $ctx }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          command:
            {{- include "platform.envFileCommand" (dict "secrets" $v.vault.secrets "run" "exec mlops \"$@\"" "name" "mlops") | nindent 12 }}
          args:
            - serve
            - --host=0.0.0.0
            - --port={{ $v.containerPort }}
            - --model={{ $v.model }}
            - {{ ternary "--shadow" "--no-shadow" .shadow }}
            - {{ ternary "--features" "--no-features" $v.features }}
            - --config-dir=/app/config
            - --env={{ $v.environment }}
          env:
            - name: MLOPS_ENV
              value: {{ $v.environment | quote }}
            {{- if $v.features }}
            {{- /* The Feast config's ${VARIABLES} (feature_store/registry/cluster.yaml); the
            passwords come from the Vault env files, REDIS_CONNECTION from the platform config. */}}
            {{- include "platform.feastPostgresEnv" $ctx | nindent 12 }}
            {{- end }}
            {{- include "platform.vaultCaEnv" $ctx | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ $v.containerPort }}
              protocol: TCP
          # The port opens only once the models are loaded; allow up to 5 minutes for that.
          startupProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 5
            failureThreshold: 60
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          resources:
            {{- toYaml .resources | nindent 12 }}
          securityContext:
            {{- include "platform.containerSecurityContext" $ctx | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            # The platform state folder (state_dir of config/environments/<env>.yaml: shadow
            # comparison store, prediction log, Feast local files).
            - name: state
              mountPath: {{ include "platform.stateDir" $ctx }}
            {{- include "platform.vaultCaVolumeMount" $ctx | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 1Gi
        - name: state
          emptyDir:
            sizeLimit: 2Gi
        {{- include "platform.vaultTokenVolume" $ctx | nindent 8 }}
        {{- include "platform.vaultCaVolume" $ctx | nindent 8 }}
{{- end -}}
