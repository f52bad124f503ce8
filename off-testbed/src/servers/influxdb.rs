//! InfluxDB 1.x (`influxd` from the `influxdb` package): its HTTP API on the address given, the
//! RPC port on a free loopback port (its default, :8088, may be taken), no usage reporting and no
//! `_internal` statistics database.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Server, ServerDir, free_port, loopback};

/// A running `influxd`.
#[derive(Debug)]
pub struct InfluxDb {
    pub server: Server,
    /// The user queries log in as, when authentication is on.
    credentials: Option<(String, String)>,
}

impl InfluxDb {
    /// Starts `influxd` with its HTTP API on `ip` and a fresh data directory.
    pub fn start(ip: IpAddr) -> Result<InfluxDb> {
        InfluxDb::start_with(ip, None)
    }

    /// [`InfluxDb::start`] with authentication on and one admin user, `user` with `password`
    /// (the queries of this launcher then log in as that user).
    pub fn start_with_auth(ip: IpAddr, user: &str, password: &str) -> Result<InfluxDb> {
        let mut influx = InfluxDb::start_with(ip, Some((user.to_string(), password.to_string())))?;
        // The first user may be created without credentials; it must be an admin.
        let credentials = influx.credentials.take();
        influx.query_post(&format!(
            "CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
        ))?;
        influx.credentials = credentials;
        Ok(influx)
    }

    fn start_with(ip: IpAddr, credentials: Option<(String, String)>) -> Result<InfluxDb> {
        let dir = ServerDir::temp("influxdb")?;
        let d = dir.path().display().to_string();
        let http = SocketAddr::new(ip, free_port(ip)?);
        let rpc = SocketAddr::new(loopback(), free_port(loopback())?);
        let config = format!(
            "reporting-disabled = true\n\
             bind-address = \"{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [http]\n  bind-address = \"{http}\"\n  log-enabled = false\n  auth-enabled = {auth}\n",
            auth = credentials.is_some(),
        );
        let path = dir.path().join("influxdb.conf");
        std::fs::write(&path, config)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut command = Command::new("influxd");
        command.arg("-config").arg(&path);
        // Accepting connections comes before the meta store is open: `/ping` answers 204 once
        // queries work.
        let ready = |addr: SocketAddr| -> Result<bool> {
            let response = ureq::get(format!("http://{addr}/ping")).call()?;
            Ok(response.status() == 204)
        };
        let server = Server::start("influxdb", http, dir, command, Some(&ready))?;
        Ok(InfluxDb {
            server,
            credentials,
        })
    }

    /// `influxdb://ADDR/db`, the sink URL for database `db`.
    pub fn sink_url(&self, db: &str) -> String {
        format!("influxdb://{}/{db}", self.server.addr)
    }

    /// `CREATE DATABASE db`.
    pub fn create_database(&self, db: &str) -> Result<()> {
        self.query_post(&format!("CREATE DATABASE \"{db}\""))?;
        Ok(())
    }

    fn query_post(&self, q: &str) -> Result<serde_json::Value> {
        let url = format!("http://{}/query", self.server.addr);
        let mut response = self
            .authorized(ureq::post(&url))
            .send_form([("q", q)])
            .with_context(|| format!("influxdb: {q}"))?;
        Ok(serde_json::from_str(
            &response.body_mut().read_to_string()?,
        )?)
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.credentials {
            Some((user, password)) => request.query("u", user).query("p", password),
            None => request,
        }
    }

    /// The rows of `q` (an InfluxQL `SELECT`) in `db`: one JSON object per point, keyed by
    /// column name (`time` in RFC 3339). An error the server reports is an error here.
    pub fn select(
        &self,
        db: &str,
        q: &str,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        let url = format!("http://{}/query", self.server.addr);
        let mut response = self
            .authorized(ureq::get(&url))
            .query("db", db)
            .query("q", q)
            .call()
            .with_context(|| format!("influxdb: {q}"))?;
        let body: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        let result = &body["results"][0];
        if let Some(error) = result.get("error") {
            bail!("influxdb: {q}: {error}");
        }
        let mut rows = Vec::new();
        for series in result["series"].as_array().into_iter().flatten() {
            let columns: Vec<String> = series["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect();
            for values in series["values"].as_array().into_iter().flatten() {
                let mut row = serde_json::Map::new();
                if let Some(tags) = series["tags"].as_object() {
                    row.extend(tags.clone());
                }
                for (column, value) in columns.iter().zip(values.as_array().into_iter().flatten()) {
                    row.insert(column.clone(), value.clone());
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }
}
