//! PostgreSQL backend: a connection pool, one transaction per request. The server's own
//! group commit batches the disk flushes of concurrent transactions, so no writer thread
//! is needed here, and several Seva nodes can share one database.

use std::any::Any;
use std::error::Error as StdError;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row as PgRow};

use crate::db::{BoxFuture, Conn, Dialect, Op, Row, Value};
use crate::events::Event;
use crate::{Error, Result};

pub struct Postgres {
    pool: Pool,
}

pub struct PgConn {
    client: Object,
    emitted: Vec<Event>,
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(v) => v.to_sql(ty, out),
            Value::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn convert_row(row: &PgRow) -> Result<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

fn params(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute<'a>(&'a mut self, sql: &'a str, args: &'a [Value]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let stmt = self.client.prepare_cached(sql).await?;
            Ok(self.client.execute(&stmt, &params(args)).await?)
        })
    }

    fn query<'a>(&'a mut self, sql: &'a str, args: &'a [Value]) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let stmt = self.client.prepare_cached(sql).await?;
            let rows = self.client.query(&stmt, &params(args)).await?;
            rows.iter().map(convert_row).collect()
        })
    }

    fn emitted(&mut self) -> &mut Vec<Event> {
        &mut self.emitted
    }
}

impl Postgres {
    pub async fn open(url: &str, pool_size: usize) -> Result<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::Backend(format!("database URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|e| Error::Backend(format!("pool: {e}")))?;
        let pg = Self { pool };
        let mut client = pg.client().await?;
        crate::migrations::run_postgres(&mut client).await?;
        Ok(pg)
    }

    async fn client(&self) -> Result<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Backend(format!("cannot get a database connection: {e}")))
    }

    /// Runs `op` in its own transaction; returns its value and the events it wrote.
    pub async fn write(
        &self,
        op: Op<Box<dyn Any + Send>>,
    ) -> Result<(Box<dyn Any + Send>, Vec<Event>)> {
        let client = self.client().await?;
        client.batch_execute("BEGIN").await?;
        let mut conn = PgConn {
            client,
            emitted: Vec::new(),
        };
        match op(&mut conn).await {
            Ok(value) => {
                conn.client.batch_execute("COMMIT").await?;
                Ok((value, conn.emitted))
            }
            Err(e) => {
                let _ = conn.client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }

    pub async fn read(&self, op: Op<Box<dyn Any + Send>>) -> Result<Box<dyn Any + Send>> {
        let client = self.client().await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let mut conn = PgConn {
            client,
            emitted: Vec::new(),
        };
        let result = op(&mut conn).await;
        let _ = conn.client.batch_execute("ROLLBACK").await;
        result
    }
}
