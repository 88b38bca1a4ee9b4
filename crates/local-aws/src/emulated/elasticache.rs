//! ElastiCache cache parameter groups (moto answers HTTP 500): create, describe, modify, reset
//! of parameters, describe parameters, delete, and tagging of the groups' ARNs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Req, ACCOUNT};
use crate::protocol::{escape, query_ok, Protocol};

const NS: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// The `redis7` family's parameters, one per line: name, default, data type, allowed values,
/// description (tab-separated).
const REDIS7_TSV: &str = include_str!("../data/redis7-parameters.tsv");

/// `(name, default, data type, allowed values, description)` of the `redis7` family.
fn redis7() -> impl Iterator<
    Item = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ),
> {
    REDIS7_TSV.lines().filter_map(|line| {
        let mut f = line.split('\t');
        Some((f.next()?, f.next()?, f.next()?, f.next()?, f.next()?))
    })
}

const FAMILIES: &[&str] = &[
    "redis2.6",
    "redis2.8",
    "redis3.2",
    "redis4.0",
    "redis5.0",
    "redis6.x",
    "redis7",
    "valkey7",
    "valkey8",
    "memcached1.6",
];

#[derive(Debug, Clone)]
struct Group {
    family: String,
    description: String,
    values: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

/// The parameter groups.
#[derive(Debug, Default)]
pub struct ParameterGroups {
    groups: Mutex<BTreeMap<String, Group>>,
}

fn err(status: StatusCode, code: &str, msg: &str) -> Response<Bytes> {
    Protocol::Query.error(status, code, msg)
}

fn not_found(name: &str) -> Response<Bytes> {
    err(
        StatusCode::NOT_FOUND,
        "CacheParameterGroupNotFound",
        &format!("CacheParameterGroup {name} not found."),
    )
}

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:elasticache:{region}:{ACCOUNT}:parametergroup:{name}")
}

fn group_xml(region: &str, name: &str, g: &Group) -> String {
    format!(
        "<CacheParameterGroup><CacheParameterGroupName>{}</CacheParameterGroupName><CacheParameterGroupFamily>{}</CacheParameterGroupFamily><Description>{}</Description><IsGlobal>false</IsGlobal><ARN>{}</ARN></CacheParameterGroup>",
        escape(name),
        escape(&g.family),
        escape(&g.description),
        escape(&arn(region, name))
    )
}

fn indexed(req: &Req<'_>, prefix: &str, field: &str) -> Vec<String> {
    let mut items: Vec<(usize, String)> = req
        .form
        .iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
            let (n, f) = rest.split_once('.')?;
            if f == field {
                Some((n.parse().ok()?, v.clone()))
            } else {
                None
            }
        })
        .collect();
    items.sort();
    items.into_iter().map(|(_, v)| v).collect()
}

fn tags_xml(tags: &BTreeMap<String, String>) -> String {
    let inner: String = tags
        .iter()
        .map(|(k, v)| {
            format!(
                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                escape(k),
                escape(v)
            )
        })
        .collect();
    format!("<TagList>{inner}</TagList>")
}

impl ParameterGroups {
    /// Serve a parameter-group operation, or `None` to let moto answer.
    pub fn handle(&self, op: &str, req: &Req<'_>) -> Option<Response<Bytes>> {
        let mut groups = self.groups.lock().expect("not poisoned");
        let region = req.region;
        let name = req
            .param("CacheParameterGroupName")
            .unwrap_or_default()
            .to_string();
        Some(match op {
            "CreateCacheParameterGroup" => {
                let family = req.param("CacheParameterGroupFamily").unwrap_or_default();
                let description = req.param("Description").unwrap_or_default();
                if name.is_empty() || family.is_empty() || description.is_empty() {
                    return Some(err(StatusCode::BAD_REQUEST, "InvalidParameterValue", "CacheParameterGroupName, CacheParameterGroupFamily and Description are required."));
                }
                if !FAMILIES.contains(&family) {
                    return Some(err(StatusCode::BAD_REQUEST, "InvalidParameterValue", &format!("The parameter CacheParameterGroupFamily {family} is not a valid cache parameter group family.")));
                }
                if groups.contains_key(&name) {
                    return Some(err(
                        StatusCode::BAD_REQUEST,
                        "CacheParameterGroupAlreadyExists",
                        &format!("Parameter group {name} already exists."),
                    ));
                }
                let keys = indexed(req, "Tags.Tag", "Key");
                let vals = indexed(req, "Tags.Tag", "Value");
                let g = Group {
                    family: family.into(),
                    description: description.into(),
                    values: BTreeMap::new(),
                    tags: keys.into_iter().zip(vals).collect(),
                };
                let xml = group_xml(region, &name, &g);
                groups.insert(name, g);
                query_ok(op, NS, &xml)
            }
            "DescribeCacheParameterGroups" => {
                let list: Vec<String> = if name.is_empty() {
                    groups
                        .iter()
                        .map(|(n, g)| group_xml(region, n, g))
                        .collect()
                } else {
                    match groups.get(&name) {
                        Some(g) => vec![group_xml(region, &name, g)],
                        None => return Some(not_found(&name)),
                    }
                };
                query_ok(
                    op,
                    NS,
                    &format!(
                        "<CacheParameterGroups>{}</CacheParameterGroups>",
                        list.concat()
                    ),
                )
            }
            "ModifyCacheParameterGroup" | "ResetCacheParameterGroup" => {
                modify_group(&mut groups, op, &name, req)
            }
            "DescribeCacheParameters" => describe_parameters(&groups, &name, req),
            "DeleteCacheParameterGroup" => {
                if groups.remove(&name).is_none() {
                    return Some(not_found(&name));
                }
                query_ok(op, NS, "")
            }
            "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource" => {
                let resource = req.param("ResourceName").unwrap_or_default();
                let group_name = resource.split(":parametergroup:").nth(1)?;
                let Some(g) = groups.get_mut(group_name) else {
                    return Some(not_found(group_name));
                };
                match op {
                    "AddTagsToResource" => {
                        let keys = indexed(req, "Tags.Tag", "Key");
                        let vals = indexed(req, "Tags.Tag", "Value");
                        g.tags.extend(keys.into_iter().zip(vals));
                    }
                    "RemoveTagsFromResource" => {
                        for k in indexed_plain(req, "TagKeys.member") {
                            g.tags.remove(&k);
                        }
                    }
                    _ => {}
                }
                query_ok(op, NS, &tags_xml(&g.tags))
            }
            _ => return None,
        })
    }
}

/// `ModifyCacheParameterGroup` and `ResetCacheParameterGroup`: values of the family's parameters
/// set or reset.
fn modify_group(
    groups: &mut BTreeMap<String, Group>,
    op: &str,
    name: &str,
    req: &Req<'_>,
) -> Response<Bytes> {
    let Some(g) = groups.get_mut(name) else {
        return not_found(name);
    };
    let prefix = "ParameterNameValues.ParameterNameValue";
    let names = indexed(req, prefix, "ParameterName");
    let values = indexed(req, prefix, "ParameterValue");
    if op == "ModifyCacheParameterGroup" && names.is_empty() {
        return err(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            "ParameterNameValues must not be empty.",
        );
    }
    for n in &names {
        if !redis7().any(|p| p.0 == n) {
            return err(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValue",
                &format!("Parameter {n} does not exist in family {}.", g.family),
            );
        }
    }
    if op == "ModifyCacheParameterGroup" {
        for (n, v) in names.into_iter().zip(values) {
            g.values.insert(n, v);
        }
    } else if req.param("ResetAllParameters") == Some("true") {
        g.values.clear();
    } else {
        for n in names {
            g.values.remove(&n);
        }
    }
    query_ok(
        op,
        NS,
        &format!(
            "<CacheParameterGroupName>{}</CacheParameterGroupName>",
            escape(name)
        ),
    )
}

/// `DescribeCacheParameters`: the family's parameters with the group's values, paged as AWS does.
fn describe_parameters(
    groups: &BTreeMap<String, Group>,
    name: &str,
    req: &Req<'_>,
) -> Response<Bytes> {
    let Some(g) = groups.get(name) else {
        return not_found(name);
    };
    let page = match crate::cluster_parameters::page_of(req.form) {
        Ok(p) => p,
        Err(msg) => return err(StatusCode::BAD_REQUEST, "InvalidParameterValue", &msg),
    };
    let params: Vec<String> = redis7()
            .map(|(n, default, ty, allowed, desc)| {
                let (value, src) = match g.values.get(n) {
                    Some(v) => (v.as_str(), "user"),
                    None => (default, "system"),
                };
                (src, format!(
                    "<Parameter><ParameterName>{n}</ParameterName><ParameterValue>{}</ParameterValue><Description>{}</Description><Source>{src}</Source><DataType>{ty}</DataType><AllowedValues>{}</AllowedValues><IsModifiable>true</IsModifiable><MinimumEngineVersion>7.0.0</MinimumEngineVersion><ChangeType>immediate</ChangeType></Parameter>",
                    escape(value), escape(desc), escape(allowed)
                ))
            })
            .filter(|(src, _)| page.source().is_none_or(|s| s == *src))
            .map(|(_, x)| x)
            .collect();
    query_ok("DescribeCacheParameters", NS, &page.of(&params))
}

fn indexed_plain(req: &Req<'_>, prefix: &str) -> Vec<String> {
    req.form
        .iter()
        .filter(|(k, _)| k.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
        .map(|(_, v)| v.clone())
        .collect()
}
