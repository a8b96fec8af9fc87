//! Development keys and tokens for `npm start` and manual testing.
//!
//! Private keys are written only below the chosen directory (`.dev/` by default, git-ignored)
//! and never printed. Production tokens come from the authorization server, not from here.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_compact::alg::{Ed25519, Es256, ModulusBits, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use rand_core::OsRng;
use serde_json::{json, Map, Value};

use mcp_gate::token::keyset::SECRET_MEMBERS;

/// The development keys: file stem, `kid`, JWS `alg`.
const DEV_KEYS: [(&str, &str, &str); 3] = [
    ("rs256", "dev-rs256", "RS256"),
    ("es256", "dev-es256", "ES256"),
    ("eddsa", "dev-eddsa", "EdDSA"),
];

/// Create development signing keys (never for production).
///
/// Creates one RS256, one ES256 and one EdDSA private key under DIR/keys/ when missing (kept
/// when present; never printed) and rewrites DIR/jwks.json with their public halves.
#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct KeysArgs {
    /// Directory for keys/ and jwks.json
    #[arg(long, value_name = "DIR", default_value = ".dev")]
    dir: PathBuf,
}

/// Print a development access token signed with the `dev-keys` keys.
///
/// The token is a JWT (typ at+jwt) with iss, aud, sub, client_id, jti, iat, exp and, with
/// --scope, scope; its kid names the development key of --alg.
#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct TokenArgs {
    /// Directory `mcp-gate dev-keys` wrote the keys to
    #[arg(long, value_name = "DIR", default_value = ".dev")]
    dir: PathBuf,
    /// Signing algorithm (and so the development key)
    #[arg(long, value_name = "ALG", default_value = "RS256", value_parser = ["RS256", "ES256", "EdDSA"])]
    alg: String,
    /// Issuer (`iss`), one of the gate's ISSUERS
    #[arg(long, value_name = "ISS")]
    iss: String,
    /// Audience (`aud`): the gate's resource, e.g. http://127.0.0.1:8787/mcp
    #[arg(long, value_name = "AUD")]
    aud: String,
    /// Subject (`sub`)
    #[arg(long, value_name = "SUB", default_value = "dev-user")]
    sub: String,
    /// Granted scopes (`scope`), space-separated, e.g. "mcp:tools:*"; no `scope` claim without it
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// Client (`client_id`)
    #[arg(long, value_name = "ID", default_value = "dev-client")]
    client_id: String,
    /// Lifetime in seconds (`exp` - `iat`); negative for an already expired token
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 3600,
        allow_negative_numbers = true
    )]
    ttl: i64,
}

fn private_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join("keys").join(format!("{stem}.private.jwk.json"))
}

fn generate(alg: &str) -> Result<Value, String> {
    let jwk: Value = match alg {
        "RS256" => {
            let (signing, _) = Rsa::generate(&mut OsRng, ModulusBits::TwoKibibytes)
                .map_err(|e| format!("RSA key generation failed: {e}"))?;
            serde_json::to_value(JsonWebKey::from(&signing.into_inner()))
        }
        "ES256" => {
            let signing = p256::ecdsa::SigningKey::random(&mut OsRng);
            serde_json::to_value(JsonWebKey::from(&signing))
        }
        _ => {
            let (secret, _) = Ed25519::generate(&mut OsRng);
            serde_json::to_value(JsonWebKey::from(&secret))
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(jwk)
}

/// The public half of a private JWK, with `kid`, `alg` and `use`.
fn public_of(private: &Value, kid: &str, alg: &str) -> Value {
    let mut public = Map::new();
    if let Some(obj) = private.as_object() {
        for (name, value) in obj {
            if !SECRET_MEMBERS.contains(&name.as_str()) {
                public.insert(name.clone(), value.clone());
            }
        }
    }
    public.insert("kid".into(), json!(kid));
    public.insert("alg".into(), json!(alg));
    public.insert("use".into(), json!("sig"));
    Value::Object(public)
}

/// `mcp-gate dev-keys`: creates missing keys and rewrites `DIR/jwks.json`.
pub fn keys_command(args: &KeysArgs) -> i32 {
    let dir = &args.dir;
    match write_keys(dir) {
        Ok(created) => {
            println!(
                "development keys in {} ({} new); public key set: {}",
                dir.join("keys").display(),
                created,
                dir.join("jwks.json").display()
            );
            0
        }
        Err(e) => {
            eprintln!("dev-keys: {e}");
            1
        }
    }
}

fn write_keys(dir: &Path) -> Result<usize, String> {
    fs::create_dir_all(dir.join("keys")).map_err(|e| e.to_string())?;
    let mut created = 0;
    let mut public_keys = Vec::new();
    for (stem, kid, alg) in DEV_KEYS {
        let path = private_path(dir, stem);
        let private: Value = match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(_) => {
                let jwk = generate(alg)?;
                write_private(&path, &jwk)?;
                created += 1;
                jwk
            }
        };
        public_keys.push(public_of(&private, kid, alg));
    }
    let set =
        serde_json::to_string_pretty(&json!({ "keys": public_keys })).map_err(|e| e.to_string())?;
    fs::write(dir.join("jwks.json"), set).map_err(|e| e.to_string())?;
    Ok(created)
}

fn write_private(path: &Path, jwk: &Value) -> Result<(), String> {
    let text = serde_json::to_string(jwk).map_err(|e| e.to_string())?;
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// `mcp-gate token`: prints a signed development token.
pub fn token_command(args: &TokenArgs) -> i32 {
    match mint(args) {
        Ok(token) => {
            println!("{token}");
            0
        }
        Err(e) => {
            eprintln!("token: {e}");
            2
        }
    }
}

fn mint(args: &TokenArgs) -> Result<String, String> {
    let alg = args.alg.as_str();
    let ttl = args.ttl;
    let (stem, kid, _) = DEV_KEYS
        .iter()
        .find(|(_, _, a)| *a == alg)
        .ok_or("--alg must be RS256, ES256 or EdDSA")?;
    let path = private_path(&args.dir, stem);
    let bytes = fs::read(&path).map_err(|_| {
        format!(
            "no key at {}: run `mcp-gate dev-keys` first",
            path.display()
        )
    })?;
    let jwk: JsonWebKey<'_> = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let mut custom = Map::new();
    custom.insert("iss".into(), json!(args.iss));
    custom.insert("aud".into(), json!(args.aud));
    custom.insert("sub".into(), json!(args.sub));
    custom.insert("client_id".into(), json!(args.client_id));
    custom.insert(
        "jti".into(),
        json!(format!("dev-{now}-{}", std::process::id())),
    );
    if let Some(scope) = &args.scope {
        custom.insert("scope".into(), json!(scope));
    }
    let mut claims = Claims::new(custom);
    claims.issued_at = chrono::DateTime::from_timestamp(now, 0);
    claims.expiration = chrono::DateTime::from_timestamp(now + ttl, 0);
    let header = Header::empty().with_key_id(*kid).with_token_type("at+jwt");
    let signed = match alg {
        "RS256" => {
            let key = RsaPrivateKey::try_from(&jwk).map_err(|e| e.to_string())?;
            Rsa::rs256().token(&header, &claims, &key)
        }
        "ES256" => {
            let key = p256::ecdsa::SigningKey::try_from(&jwk).map_err(|e| e.to_string())?;
            Es256.token(&header, &claims, &key)
        }
        _ => {
            let key = <Ed25519 as jwt_compact::Algorithm>::SigningKey::try_from(&jwk)
                .map_err(|e| e.to_string())?;
            Ed25519.token(&header, &claims, &key)
        }
    };
    signed.map_err(|e| e.to_string())
}
