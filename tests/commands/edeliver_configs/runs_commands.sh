# commands while sourcing: recorded, never run
APP="busy"
BUILD_HOST="$(hostname -f)"
BUILD_USER="$(whoami)"
BUILD_AT="/home/builder/busy"
PRODUCTION_HOSTS="web1.example.com"
PRODUCTION_USER="deploy"
DELIVER_TO="/srv/busy"
git fetch origin
/bin/rm -rf "$HOME/should-never-go"
echo "written" > "$DELIVER_IMPORT_CANARY"
cd /
exec /bin/sh -c 'touch /tmp/never'
