//! Redis command names: which are known (for inference), which are containers whose
//! subcommand is part of the name, and where each command's key is, chosen so that secrets
//! (`AUTH`, `HELLO ... AUTH`, `MIGRATE ... AUTH`, `CONFIG SET` values) are never a key.

/// Commands recognised by inference and as inline commands.
pub(super) const COMMANDS: &[&str] = &[
    "GET",
    "SET",
    "DEL",
    "EXISTS",
    "EXPIRE",
    "TTL",
    "INCR",
    "DECR",
    "INCRBY",
    "MGET",
    "MSET",
    "HGET",
    "HSET",
    "HGETALL",
    "HDEL",
    "HMGET",
    "HMSET",
    "HINCRBY",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "LRANGE",
    "LLEN",
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "ZADD",
    "ZRANGE",
    "ZREM",
    "ZSCORE",
    "ZRANGEBYSCORE",
    "PING",
    "AUTH",
    "HELLO",
    "SELECT",
    "INFO",
    "CONFIG",
    "CLIENT",
    "CLUSTER",
    "COMMAND",
    "SCAN",
    "KEYS",
    "TYPE",
    "EVAL",
    "EVALSHA",
    "MULTI",
    "EXEC",
    "WATCH",
    "DISCARD",
    "PUBLISH",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "UNSUBSCRIBE",
    "XADD",
    "XREAD",
    "XRANGE",
    "SETEX",
    "SETNX",
    "GETSET",
    "APPEND",
    "STRLEN",
    "PEXPIRE",
    "PTTL",
    "QUIT",
    "FLUSHDB",
    "FLUSHALL",
    "DBSIZE",
    "ECHO",
    "BLPOP",
    "BRPOP",
    "RENAME",
    "UNLINK",
    "MIGRATE",
    "OBJECT",
    "MEMORY",
    "XINFO",
    "SCRIPT",
    "FUNCTION",
    "ACL",
    "FCALL",
    "GETDEL",
    "GETEX",
    "SSUBSCRIBE",
    "INCRBYFLOAT",
    "DECRBY",
    "HEXISTS",
    "HLEN",
    "HKEYS",
    "HVALS",
    "HSETNX",
    "HSCAN",
    "SCARD",
    "SPOP",
    "SRANDMEMBER",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SSCAN",
    "SMISMEMBER",
    "ZCARD",
    "ZINCRBY",
    "ZRANK",
    "ZREVRANK",
    "ZCOUNT",
    "ZREVRANGE",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZSCAN",
    "ZREMRANGEBYSCORE",
    "ZUNIONSTORE",
    "ZMSCORE",
    "LINDEX",
    "LSET",
    "LTRIM",
    "LREM",
    "LINSERT",
    "LPUSHX",
    "RPUSHX",
    "RPOPLPUSH",
    "LMOVE",
    "BLMOVE",
    "BZPOPMIN",
    "XACK",
    "XREADGROUP",
    "XLEN",
    "XDEL",
    "XTRIM",
    "XGROUP",
    "XCLAIM",
    "XAUTOCLAIM",
    "XPENDING",
    "XREVRANGE",
    "PFADD",
    "PFCOUNT",
    "PFMERGE",
    "GEOADD",
    "GEOSEARCH",
    "GEODIST",
    "TOUCH",
    "COPY",
    "EXPIREAT",
    "PEXPIREAT",
    "PERSIST",
    "MSETNX",
    "PSETEX",
    "DUMP",
    "RESTORE",
    "SETRANGE",
    "GETRANGE",
    "SETBIT",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "RANDOMKEY",
    "UNWATCH",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "PUBSUB",
    "MONITOR",
    "RESET",
    "WAIT",
    "TIME",
    "ROLE",
    "READONLY",
    "READWRITE",
    "LASTSAVE",
    "SAVE",
    "BGSAVE",
    "EVAL_RO",
    "EVALSHA_RO",
    "FCALL_RO",
    "LATENCY",
    "SLOWLOG",
    "MODULE",
    "SWAPDB",
    "REPLICAOF",
    "LPOS",
    "SINTERCARD",
];
/// Container commands: the subcommand is part of the name (`CONFIG SET`).
const CONTAINERS: &[&str] = &[
    "CONFIG", "CLIENT", "CLUSTER", "COMMAND", "OBJECT", "MEMORY", "XINFO", "SCRIPT", "FUNCTION",
    "ACL", "MODULE", "DEBUG", "PUBSUB", "SLOWLOG", "LATENCY", "XGROUP",
];
/// Commands with no key at index 1 (or a secret there).
const KEYLESS: &[&str] = &[
    "AUTH",
    "HELLO",
    "PING",
    "ECHO",
    "SELECT",
    "MULTI",
    "EXEC",
    "DISCARD",
    "QUIT",
    "INFO",
    "DBSIZE",
    "FLUSHDB",
    "FLUSHALL",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "SCAN",
    "KEYS",
    "TIME",
    "LASTSAVE",
    "ROLE",
    "SHUTDOWN",
    "SWAPDB",
    "WAIT",
    "RESET",
    "READONLY",
    "READWRITE",
    "MONITOR",
    "SYNC",
    "PSYNC",
    "REPLICAOF",
    "SLAVEOF",
    "FAILOVER",
    "UNWATCH",
    "RANDOMKEY",
];

/// The command name and key a record shows for these (first) arguments.
pub fn command_and_key(args: &[String]) -> (String, Option<String>) {
    let Some(first) = args.first() else {
        return (String::new(), None);
    };
    let cmd = first.to_ascii_uppercase();
    if CONTAINERS.contains(&cmd.as_str()) {
        let sub = args.get(1).map(|s| s.to_ascii_uppercase());
        let key = match (cmd.as_str(), sub.as_deref()) {
            ("OBJECT", Some(_)) | ("MEMORY", Some("USAGE")) | ("XINFO", Some(_)) => {
                args.get(2).cloned()
            }
            ("XGROUP", Some(_)) => args.get(2).cloned(),
            _ => None,
        };
        let name = match sub {
            Some(s) => format!("{cmd} {s}"),
            None => cmd,
        };
        return (name, key);
    }
    let key = match cmd.as_str() {
        c if KEYLESS.contains(&c) => None,
        // MIGRATE host port key|"" db timeout ... [AUTH pw | AUTH2 user pw] [KEYS ...]
        "MIGRATE" => args.get(3).filter(|k| !k.is_empty()).cloned(),
        // EVAL script numkeys key ...
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
            match args.get(2).map(|n| n.as_str()) {
                Some("0") | None => None,
                Some(_) => args.get(3).cloned(),
            }
        }
        _ => args.get(1).cloned(),
    };
    (cmd, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ck(args: &[&str]) -> (String, Option<String>) {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        command_and_key(&a)
    }

    #[test]
    fn keys() {
        assert_eq!(ck(&["get", "k"]), ("GET".into(), Some("k".into())));
        assert_eq!(ck(&["AUTH", "pw"]), ("AUTH".into(), None));
        assert_eq!(ck(&["AUTH", "user", "pw"]), ("AUTH".into(), None));
        assert_eq!(ck(&["HELLO", "3", "AUTH"]), ("HELLO".into(), None));
        assert_eq!(
            ck(&["config", "set", "requirepass"]),
            ("CONFIG SET".into(), None)
        );
        assert_eq!(
            ck(&["MIGRATE", "h", "6379", "", "0"]),
            ("MIGRATE".into(), None)
        );
        assert_eq!(
            ck(&["MIGRATE", "h", "6379", "k", "0"]),
            ("MIGRATE".into(), Some("k".into()))
        );
        assert_eq!(
            ck(&["EVAL", "return 1", "1", "k"]),
            ("EVAL".into(), Some("k".into()))
        );
        assert_eq!(ck(&["EVAL", "return 1", "0"]), ("EVAL".into(), None));
        assert_eq!(
            ck(&["OBJECT", "encoding", "k"]),
            ("OBJECT ENCODING".into(), Some("k".into()))
        );
    }
}
