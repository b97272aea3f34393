# Sourced (bash) by the mongo image's entrypoint on the first start of an empty data
# volume, with "${mongo[@]}" = mongosh logged in as the root user. Creates vahti's user
# in the vahti database: readWrite for its data, dbAdmin for the two administrative
# commands vahti runs (collMod when a retention setting changes, compact after
# `vahti forget`). The password comes from a secret file, never from the command line.
VAHTI_DB_PASSWORD="$(cat /run/secrets/mongo-vahti-password)" \
"${mongo[@]}" "${MONGO_INITDB_DATABASE:-vahti}" --eval '
  db.createUser({user: "vahti", pwd: process.env.VAHTI_DB_PASSWORD,
                 roles: [{role: "readWrite", db: db.getName()},
                         {role: "dbAdmin", db: db.getName()}]})'
