//! Arti's client and onion service configuration built from `[tor]`: the testing
//! network override (guarded by [`TESTING_ENV`](super::TESTING_ENV)), the state and cache directories, and
//! the onion service's nickname, proof of work and restricted discovery. Shared by
//! [`super::service`] (start-up) and [`super::address`] (the address, offline).

use std::path::{Path, PathBuf};

use arti_client::TorClientConfig;
use arti_client::config::{CfgPath, ConfigBuildError};
use tor_hsservice::OnionServiceConfig;
use tor_hsservice::config::OnionServiceConfigBuilder;

use super::Error;
use crate::config::{Config, TorOnionServiceConfig};

/// The testing network file to use, if any: `tor.testing.network` when set, which
/// requires `env_value` (the value of [`TESTING_ENV`](super::TESTING_ENV)) to be `"1"`.
///
/// # Errors
/// [`Error::TestingNotAllowed`] when the file is set and the variable is not `1`.
pub fn testing_network(config: &Config, env_value: Option<&str>) -> Result<Option<PathBuf>, Error> {
    let network = &config.tor.testing.network;
    if network.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(network);
    if env_value != Some("1") {
        return Err(Error::TestingNotAllowed { path });
    }
    Ok(Some(path))
}

/// Arti's configuration: state in `tor_dir/state` (with the keystore), cache in
/// `tor_dir/cache`, optionally over the network override file `network`.
///
/// The override is an Arti TOML fragment (`[tor_network]`, `[path_rules]`,
/// `[override_net_params]`, `[address_filter]`, …). It must contain `[tor_network]`
/// and no key Arti does not know; its `[storage]`, if any, is replaced.
///
/// # Errors
/// [`Error::TestingRead`], [`Error::TestingParse`], [`Error::TestingContent`] for the
/// override; [`Error::Config`] when Arti rejects the result.
pub fn client_config(tor_dir: &Path, network: Option<&Path>) -> Result<TorClientConfig, Error> {
    let mut builder = match network {
        None => arti_client::config::TorClientConfigBuilder::default(),
        Some(path) => load_network(path)?,
    };
    builder
        .storage()
        .state_dir(CfgPath::new_literal(tor_dir.join("state")))
        .cache_dir(CfgPath::new_literal(tor_dir.join("cache")));
    builder.build().map_err(|e| Error::Config(Box::new(e)))
}

fn load_network(path: &Path) -> Result<arti_client::config::TorClientConfigBuilder, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::TestingRead {
        path: path.to_owned(),
        source,
    })?;
    let parse_err = |source| Error::TestingParse {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let table: toml::Table = toml::from_str(&text).map_err(parse_err)?;
    if !table.contains_key("tor_network") {
        return Err(Error::TestingContent {
            path: path.to_owned(),
            problem: "it has no [tor_network] table, so it would not replace the Tor network"
                .into(),
        });
    }
    let deserializer = toml::Deserializer::parse(&text).map_err(parse_err)?;
    let mut unknown = Vec::new();
    let builder = serde_ignored::deserialize(deserializer, |p| unknown.push(p.to_string()))
        .map_err(parse_err)?;
    if !unknown.is_empty() {
        return Err(Error::TestingContent {
            path: path.to_owned(),
            problem: format!("unknown keys {}", unknown.join(", ")),
        });
    }
    Ok(builder)
}

/// Arti's onion service configuration from `[tor.onion_service]`: nickname, proof of
/// work (Tor proposal 327) and restricted discovery (each authorized client named `client-<n>`, from 1).
///
/// # Errors
/// [`Error::Nickname`], [`Error::ClientKey`] (both rejected by validation first) or
/// [`Error::Config`].
pub fn service_config(s: &TorOnionServiceConfig) -> Result<OnionServiceConfig, Error> {
    let nickname = s
        .nickname
        .parse()
        .map_err(|_| Error::Nickname(s.nickname.clone()))?;
    let mut b = OnionServiceConfigBuilder::default();
    b.nickname(nickname);
    b.enable_pow(s.proof_of_work);
    b.pow_rend_queue_depth(s.proof_of_work_queue_depth as usize);
    if s.restricted_discovery.enabled {
        let rd = b.restricted_discovery();
        rd.enabled(true);
        for (i, key) in s.restricted_discovery.authorized_clients.iter().enumerate() {
            let key = key.parse().map_err(|_| Error::ClientKey)?;
            let name = format!("client-{}", i + 1)
                .parse()
                .map_err(|_| Error::Internal("client nickname"))?;
            rd.static_keys().access().push((name, key));
        }
    }
    b.build()
        .map_err(|e: ConfigBuildError| Error::Config(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testing_network_needs_the_environment() {
        let mut c = Config::default();
        assert_eq!(testing_network(&c, None).unwrap(), None);
        assert_eq!(testing_network(&c, Some("1")).unwrap(), None);
        c.tor.testing.network = "net.toml".into();
        for env in [
            None,
            Some(""),
            Some("0"),
            Some("true"),
            Some("yes"),
            Some(" 1"),
        ] {
            let err = testing_network(&c, env).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("tor.testing.network"), "{text}");
            assert!(text.contains("ALLIUM_TESTING_TOR_NETWORK=1"), "{text}");
        }
        assert_eq!(
            testing_network(&c, Some("1")).unwrap(),
            Some(PathBuf::from("net.toml"))
        );
    }

    const NETWORK: &str = r#"
[tor_network]
fallback_caches = [
  { rsa_identity = "0123456789ABCDEF0123456789ABCDEF01234567", ed_identity = "dGhpcyBpcyBhbiBlZDI1NTE5IGlkZW50aXR5IGtleSE", orports = ["127.0.0.1:15000"] },
]
[tor_network.authorities]
v3idents = ["89ABCDEF0123456789ABCDEF0123456789ABCDEF"]
uploads = [["127.0.0.1:15100"]]
downloads = [["127.0.0.1:15100"]]
votes = [["127.0.0.1:15100"]]

[path_rules]
ipv4_subnet_family_prefix = 33
ipv6_subnet_family_prefix = 129

[override_net_params]
hsdir_interval = 8

[address_filter]
allow_local_addrs = true
"#;

    #[test]
    fn network_override_is_loaded_and_storage_kept() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("net.toml");
        std::fs::write(&net, NETWORK).unwrap();
        let tor_dir = dir.path().join("tor");
        let plain = client_config(&tor_dir, None).unwrap();
        let testing = client_config(&tor_dir, Some(&net)).unwrap();
        assert_ne!(plain, testing);
        // The override's own [storage] never moves Arti's state.
        std::fs::write(
            &net,
            format!("{NETWORK}\n[storage]\nstate_dir = \"/elsewhere\"\n"),
        )
        .unwrap();
        assert_eq!(client_config(&tor_dir, Some(&net)).unwrap(), testing);
    }

    #[test]
    fn network_override_errors() {
        let dir = tempfile::tempdir().unwrap();
        let tor_dir = dir.path().join("tor");
        let net = dir.path().join("net.toml");
        assert!(matches!(
            client_config(&tor_dir, Some(&net)),
            Err(Error::TestingRead { .. })
        ));
        std::fs::write(&net, "[path_rules]\nipv4_subnet_family_prefix = 33\n").unwrap();
        let err = client_config(&tor_dir, Some(&net)).unwrap_err();
        assert!(err.to_string().contains("[tor_network]"), "{err}");
        std::fs::write(&net, format!("{NETWORK}\n[tor_netwrok]\nx = 1\n")).unwrap();
        let err = client_config(&tor_dir, Some(&net)).unwrap_err();
        assert!(err.to_string().contains("tor_netwrok"), "{err}");
        std::fs::write(&net, "[tor_network\n").unwrap();
        assert!(matches!(
            client_config(&tor_dir, Some(&net)),
            Err(Error::TestingParse { .. })
        ));
    }

    #[test]
    fn service_config_with_restricted_discovery() {
        let mut s = TorOnionServiceConfig::default();
        let plain = service_config(&s).unwrap();
        assert_eq!(plain.nickname().to_string(), "allium");
        s.restricted_discovery.enabled = true;
        s.restricted_discovery.authorized_clients =
            vec!["descriptor:x25519:ZPRRMIV6DV6SJFL7SFBSVLJ5VUNPGCDFEVZ7M23LTLVTCCXJQBKA".into()];
        let restricted = service_config(&s).unwrap();
        assert_ne!(restricted, plain);
        // Proof of work is on by default and can be turned off.
        let no_pow = TorOnionServiceConfig {
            proof_of_work: false,
            ..TorOnionServiceConfig::default()
        };
        assert_ne!(service_config(&no_pow).unwrap(), plain);
        s.restricted_discovery.authorized_clients = vec!["descriptor:x25519:nope".into()];
        assert!(matches!(service_config(&s), Err(Error::ClientKey)));
        s.nickname = "Not valid!".into();
        assert!(matches!(service_config(&s), Err(Error::Nickname(_))));
    }
}
