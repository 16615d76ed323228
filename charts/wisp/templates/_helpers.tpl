{{/* Names, labels and small computed values shared by the templates. */}}

{{- define "wisp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>" when it already contains the chart name, else "<release>-<chart>". */}}
{{- define "wisp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "wisp.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's object name: (dict "ctx" $ "component" "gateway") -> wisp-gateway */}}
{{- define "wisp.componentName" -}}
{{- printf "%s-%s" (include "wisp.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select a component's pods; they never change after install. */}}
{{- define "wisp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wisp.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels: (dict "ctx" $ "component" "gateway"). */}}
{{- define "wisp.labels" -}}
{{ include "wisp.selectorLabels" . }}
app.kubernetes.io/part-of: wisp
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* repository:tag, the tag defaulting to the chart's appVersion: (dict "ctx" $ "image" .Values.gateway.image) */}}
{{- define "wisp.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{- define "wisp.operatorServiceAccount" -}}
{{ include "wisp.componentName" (dict "ctx" . "component" "operator") }}
{{- end -}}

{{/* The Redis URL the gateway and the operator use (unless it comes from a Secret). */}}
{{- define "wisp.redisUrl" -}}
{{- if .Values.redis.url -}}
{{- .Values.redis.url -}}
{{- else if .Values.redis.enabled -}}
{{- printf "redis://%s.%s.svc:6379/0" (include "wisp.componentName" (dict "ctx" . "component" "redis")) .Release.Namespace -}}
{{- else if not .Values.redis.existingSecret.name -}}
{{- fail "redis.enabled is false: set redis.url (redis://host:port/db) or redis.existingSecret.name to an external Redis" -}}
{{- end -}}
{{- end -}}

{{/* The gateway's base URL for Function status.url. */}}
{{- define "wisp.gatewayUrl" -}}
{{- if .Values.gateway.url -}}
{{- .Values.gateway.url | trimSuffix "/" -}}
{{- else -}}
{{- $svc := include "wisp.componentName" (dict "ctx" . "component" "gateway") -}}
{{- if eq (int .Values.gateway.service.port) 80 -}}
{{- printf "http://%s.%s.svc" $svc .Release.Namespace -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%d" $svc .Release.Namespace (int .Values.gateway.service.port) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The environment both the gateway and the operator get: WISP_REDIS_URL. */}}
{{- define "wisp.redisEnv" -}}
- name: WISP_REDIS_URL
{{- if .Values.redis.existingSecret.name }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret.name }}
      key: {{ .Values.redis.existingSecret.key }}
{{- else }}
  valueFrom:
    configMapKeyRef:
      name: {{ include "wisp.fullname" . }}-config
      key: WISP_REDIS_URL
{{- end }}
{{- end -}}

{{/* Pod Security "restricted": the pod part. */}}
{{- define "wisp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod Security "restricted": the container part. */}}
{{- define "wisp.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* nodeSelector, tolerations, affinity of a component's values. */}}
{{- define "wisp.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "wisp.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}
