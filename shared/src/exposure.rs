//! What a process refuses to start with once it can be reached beyond loopback (it
//! listens on, or talks to, another address): the api open to everyone without saying
//! so, and the development secrets the built-in defaults carry (Garage's development
//! key, PostgreSQL without a password, RabbitMQ's guest). On loopback, as
//! `scripts/run.sh` runs them, the defaults stay as they are.

use crate::config::Settings;

/// Which process is starting: only the api serves the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Api,
    Worker,
}

/// Whether `host` (a name or an address; IPv6 maybe in brackets) is this machine's
/// loopback.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host of a `host:port` listening address.
fn listening_host(address: &str) -> &str {
    address.rsplit_once(':').map_or(address, |(host, _)| host)
}

/// The host of a service's URL; `None` when the URL does not parse (the client reports
/// that better).
fn url_host(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.host_str().map(str::to_owned)
}

/// Checks `settings` for `process`; the error is one line that names the setting to
/// change.
pub fn check(settings: &Settings, process: Process) -> Result<(), String> {
    let mut listening = match process {
        Process::Api => vec![settings.http.host.as_str()],
        Process::Worker => vec![listening_host(&settings.worker.metrics_address)],
    };
    if process == Process::Api && !settings.http.metrics_address.is_empty() {
        listening.push(listening_host(&settings.http.metrics_address));
    }
    let services = [
        url_host(settings.database.url.expose()),
        url_host(settings.redis.url.expose()),
        url_host(settings.amqp.url.expose()),
        url_host(&settings.s3.endpoint),
    ];
    let beyond_loopback = listening.iter().any(|host| !is_loopback(host))
        || services.iter().flatten().any(|host| !is_loopback(host));

    if process == Process::Api
        && !is_loopback(&settings.http.host)
        && !settings.auth.required
        && !settings.auth.open
    {
        return Err(format!(
            "refusing to serve on {} with API keys off: set STYLIZE__AUTH__REQUIRED=true, \
             or STYLIZE__AUTH__OPEN=true to serve everyone on purpose",
            settings.http.host
        ));
    }
    if !beyond_loopback {
        return Ok(());
    }
    let development = Settings::defaults().map_err(|error| error.to_string())?;
    if settings.s3.secret_key.expose() == development.s3.secret_key.expose() {
        return Err(
            "refusing to start beyond loopback on Garage's development key: set \
             STYLIZE__S3__ACCESS_KEY and STYLIZE__S3__SECRET_KEY"
                .into(),
        );
    }
    if let Ok(url) = url::Url::parse(settings.database.url.expose()) {
        if url.password().is_none_or(str::is_empty) {
            return Err(
                "refusing to start beyond loopback with a PostgreSQL URL without a password: \
                 set STYLIZE__DATABASE__URL"
                    .into(),
            );
        }
    }
    if let Ok(url) = url::Url::parse(settings.amqp.url.expose()) {
        if url.username() == "guest" && url.password() == Some("guest") {
            return Err(
                "refusing to start beyond loopback as RabbitMQ's guest:guest: set \
                 STYLIZE__AMQP__URL"
                    .into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed() -> Settings {
        let mut settings = Settings::defaults().unwrap();
        settings.http.host = "0.0.0.0".into();
        settings.auth.required = true;
        settings.s3.secret_key = "a real secret".into();
        settings.database.url = "postgres://stylize:pw@postgres:5432/stylize".into();
        settings.amqp.url = "amqp://stylize:pw@rabbitmq:5672/%2f".into();
        settings
    }

    #[test]
    fn the_defaults_start_on_loopback() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(check(&settings, Process::Api), Ok(()));
        assert_eq!(check(&settings, Process::Worker), Ok(()));
    }

    #[test]
    fn keys_off_beyond_loopback_needs_saying_so() {
        let mut settings = exposed();
        assert_eq!(check(&settings, Process::Api), Ok(()));
        settings.auth.required = false;
        let refused = check(&settings, Process::Api).unwrap_err();
        assert!(refused.contains("0.0.0.0") && refused.contains("STYLIZE__AUTH__OPEN"));
        settings.auth.open = true;
        assert_eq!(check(&settings, Process::Api), Ok(()));
        // A worker serves no jobs to anyone.
        settings.auth.open = false;
        assert_eq!(check(&settings, Process::Worker), Ok(()));
    }

    #[test]
    fn development_secrets_are_named_beyond_loopback() {
        let development = Settings::defaults().unwrap();
        /// The setting a refusal names, and how a deployment gets it wrong.
        type Weakening = (&'static str, fn(&mut Settings, &Settings));
        let cases: [Weakening; 3] = [
            ("STYLIZE__S3__SECRET_KEY", |s, d| {
                s.s3.secret_key = d.s3.secret_key.clone()
            }),
            ("STYLIZE__DATABASE__URL", |s, _| {
                s.database.url = "postgres://stylize@postgres:5432/stylize".into()
            }),
            ("STYLIZE__AMQP__URL", |s, _| {
                s.amqp.url = "amqp://guest:guest@rabbitmq:5672/%2f".into()
            }),
        ];
        for (setting, weaken) in cases {
            let mut settings = exposed();
            weaken(&mut settings, &development);
            for process in [Process::Api, Process::Worker] {
                let refused = check(&settings, process).unwrap_err();
                assert!(refused.contains(setting), "{refused}");
            }
        }
    }

    #[test]
    fn a_worker_talking_to_remote_services_counts_as_beyond_loopback() {
        let mut settings = Settings::defaults().unwrap();
        settings.s3.secret_key = "a real secret".into();
        settings.database.url = "postgres://postgres@db.internal:5432/stylize".into();
        let refused = check(&settings, Process::Worker).unwrap_err();
        assert!(refused.contains("STYLIZE__DATABASE__URL"), "{refused}");
        assert!(is_loopback("[::1]") && is_loopback("localhost") && !is_loopback("::"));
    }
}
