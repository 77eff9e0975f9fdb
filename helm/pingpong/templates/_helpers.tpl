{{/*
Expand the name of the chart.
*/}}
{{- define "pingpong.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name, cut to 63 characters (the limit of some name fields).
If the release name contains the chart name, it is used as the full name.
*/}}
{{- define "pingpong.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "pingpong.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "pingpong.labels" -}}
helm.sh/chart: {{ include "pingpong.chart" . }}
{{ include "pingpong.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pingpong
{{- end }}

{{/*
Selector labels. Every workload adds its own app.kubernetes.io/component, so the app's Service
never selects the Redis pod.
*/}}
{{- define "pingpong.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pingpong.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The name of the ServiceAccount to use.
*/}}
{{- define "pingpong.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pingpong.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The app image, with appVersion as the default tag.
*/}}
{{- define "pingpong.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Name of the chart's own Redis (StatefulSet and Service).
*/}}
{{- define "pingpong.redis.fullname" -}}
{{- printf "%s-redis" (include "pingpong.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the chart's own Redis with Sentinel (redis.architecture=sentinel): the StatefulSet and
its headless Service share it, as redis-ha.sh expects.
*/}}
{{- define "pingpong.redisHA.fullname" -}}
{{- printf "%s-redis-ha" (include "pingpong.fullname" .) | trunc 60 | trimSuffix "-" }}
{{- end }}

{{/*
The Sentinels the app asks for the master: one in each of the three pods, by the name the
headless Service gives it.
*/}}
{{- define "pingpong.redisHA.sentinels" -}}
{{- $name := include "pingpong.redisHA.fullname" . }}
{{- range $i := until 3 }}{{ if $i }},{{ end }}{{ printf "%s-%d.%s:26379" $name $i $name }}{{ end }}
{{- end }}

{{/*
The Secret and key that hold the Redis password of the chart's own Redis.
*/}}
{{- define "pingpong.redis.secretName" -}}
{{- .Values.redis.auth.existingSecret | default (include "pingpong.fullname" .) }}
{{- end }}
{{- define "pingpong.redis.secretKey" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecretPasswordKey }}
{{- else -}}
redis-password
{{- end }}
{{- end }}

{{/*
The Secret and key that hold the URL of an external Redis.
*/}}
{{- define "pingpong.externalRedis.secretName" -}}
{{- .Values.externalRedis.existingSecret | default (include "pingpong.fullname" .) }}
{{- end }}
{{- define "pingpong.externalRedis.secretKey" -}}
{{- if .Values.externalRedis.existingSecret }}
{{- .Values.externalRedis.existingSecretUrlKey }}
{{- else -}}
redis-url
{{- end }}
{{- end }}

{{/*
The Secret and key that hold the admin token.
*/}}
{{- define "pingpong.adminToken.secretName" -}}
{{- .Values.adminToken.existingSecret | default (include "pingpong.fullname" .) }}
{{- end }}
{{- define "pingpong.adminToken.secretKey" -}}
{{- if .Values.adminToken.existingSecret }}
{{- .Values.adminToken.existingSecretKey }}
{{- else -}}
admin-token
{{- end }}
{{- end }}

{{/*
Stops the install when no Redis is configured: the app would otherwise fall back to its
in-memory counter, one per pod, and every pod would count on its own.
*/}}
{{- define "pingpong.validateRedis" -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.url) (not .Values.externalRedis.existingSecret) }}
{{- fail "redis.enabled is false: set externalRedis.url or externalRedis.existingSecret" }}
{{- end }}
{{- if and .Values.redis.enabled (or .Values.externalRedis.url .Values.externalRedis.existingSecret) }}
{{- fail "set redis.enabled=false to use externalRedis" }}
{{- end }}
{{- end }}

{{/*
Generated secrets need a cluster to be kept in: `helm install` and `helm upgrade` look up the
release's Secret and keep what it holds. `helm template`, `helm lint` and Argo CD (which renders
with `helm template`) see no cluster, so every render would generate new values: there the chart
stops, with one line that names the values to set. Listing the namespace's Secrets tells the two
apart: on a cluster the answer is a list (perhaps empty), with no cluster it is nothing.
*/}}
{{- define "pingpong.validateSecrets" -}}
{{- $missing := list }}
{{- if and .Values.redis.enabled (not .Values.redis.auth.existingSecret) (not .Values.redis.auth.password) }}
{{- $missing = append $missing "redis.auth.existingSecret" }}
{{- end }}
{{- if and (not .Values.adminToken.existingSecret) (not .Values.adminToken.value) }}
{{- $missing = append $missing "adminToken.existingSecret" }}
{{- end }}
{{- if and $missing (not (lookup "v1" "Secret" .Release.Namespace "")) }}
{{- fail (printf "no cluster to keep generated secrets in (helm template, helm lint, Argo CD): set %s to Secrets you created" (join " and " $missing)) }}
{{- end }}
{{- end }}

{{/*
A secret value in base64: the given value, else the one already stored in the release's Secret
(so that `helm upgrade` keeps a generated password), else a new random one.
Usage: include "pingpong.secretValue" (dict "ctx" $ "key" "redis-password" "value" .Values.x)
*/}}
{{- define "pingpong.secretValue" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace (include "pingpong.fullname" .ctx) | default dict }}
{{- $stored := get ($existing.data | default dict) .key }}
{{- if .value }}
{{- .value | b64enc }}
{{- else if $stored }}
{{- $stored }}
{{- else }}
{{- randAlphaNum 32 | b64enc }}
{{- end }}
{{- end }}

{{/*
Checksums that roll the pods when their Secret changes. They are taken over the values that make
the Secret, not over the rendered Secret: a generated password is random at every render, and a
checksum of it would change on every `helm upgrade` and restart Redis for nothing.
*/}}
{{- define "pingpong.secretChecksum" -}}
{{- dict "redis" .Values.redis.enabled "auth" .Values.redis.auth "externalRedis" .Values.externalRedis "adminToken" .Values.adminToken | toJson | sha256sum }}
{{- end }}
{{- define "pingpong.redis.secretChecksum" -}}
{{- .Values.redis.auth | toJson | sha256sum }}
{{- end }}

{{/*
The egress rule to the cluster's DNS, from networkPolicy.dns; called with .Values.networkPolicy.
*/}}
{{- define "pingpong.dnsEgress" -}}
# The cluster's DNS, to find Redis and the Service by name.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .dns.podLabels | nindent 10 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end }}
