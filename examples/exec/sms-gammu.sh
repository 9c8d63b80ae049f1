#!/bin/sh
# shouwang exec channel: one message as an SMS through a GSM modem, queued with
# gammu-smsd-inject for the gammu-smsd daemon (Debian: apt install gammu-smsd).
#
#   [exec:sms]
#   command = /usr/local/lib/shouwang/sms-gammu.sh
#   timeout = 30s
#
# and in the roster, contacts.csv:  C7,沈国华,13900000107,family,exec:sms
#
# shouwangd runs this once per message, without a shell around it, with the
# alert in SHOUWANG_* variables and the whole alert as JSON on stdin
# (docs/channels.md has the list). Exit status:
#   0        queued: gammu-smsd sends it within seconds
#   67       no phone number for this contact: permanent, shouwang moves on
#            to the contact's other channels and the next family member
#   other    failed: shouwang retries with backoff
# Whatever this prints (first 400 bytes) lands in the delivery log
# (shouwangctl alerts --json, and the journal).
set -u

# gammu-smsd's own config: the modem, and where its outbox is. The daemon's
# user must be able to write there (Debian: adduser shouwang gammu, or the
# group that owns /var/spool/gammu).
GAMMU_SMSD_CONFIG=${GAMMU_SMSD_CONFIG:-/etc/gammu-smsdrc}
# A Chinese SMS holds 70 characters; longer texts go as several parts that
# phones join again. 400 characters is about six parts.
SMS_MAX_CHARS=${SMS_MAX_CHARS:-400}

phone=${SHOUWANG_CONTACT_PHONE:-}
if [ -z "$phone" ]; then
	echo "contact ${SHOUWANG_CONTACT_ID:-?} (${SHOUWANG_CONTACT_NAME:-?}) has no phone number in the roster"
	exit 67
fi

# An SMS has no title bar: the title leads the text.
text="${SHOUWANG_TITLE:-}
${SHOUWANG_TEXT:-}"

# gammu decodes its arguments in the locale's encoding; under systemd there
# is none unless we say so (shouwangd sets LANG=C.UTF-8 when it has none).
export LANG="${LANG:-C.UTF-8}"

# -unicode: UCS-2, the only encoding that carries Chinese. The text is one
# argument, whatever it contains: no shell ever parses it.
exec gammu-smsd-inject -c "$GAMMU_SMSD_CONFIG" TEXT "$phone" -unicode -len "$SMS_MAX_CHARS" -text "$text"
