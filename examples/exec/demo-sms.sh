#!/bin/sh
# Demo stand-in for an SMS gateway (see examples/exec/sms-gammu.sh for a real
# one): prints the message as a phone would show it. The brother's phone is
# switched off, as in the story: his number fails.
to="${SHOUWANG_CONTACT_PHONE:-?}"
if [ "$to" = "13900000107" ]; then
	echo "SMS to $to failed: phone switched off" >&2
	exit 1
fi
printf '  📱 SMS → %s %s: %s\n' "${SHOUWANG_CONTACT_NAME:-?}" "$to" "${SHOUWANG_TITLE:-}" >>"${DEMO_SMS_LOG:-/dev/stdout}"
exit 0
