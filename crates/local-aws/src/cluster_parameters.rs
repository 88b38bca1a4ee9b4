//! `DescribeDBClusterParameters` (and the paging of `DescribeCacheParameters`) as AWS answers it: the family's whole parameter set (several
//! hundred, the PostgreSQL parameters and Aurora's own), with the values set on the group marked
//! `Source = user`, filtered by `Source`, at most `MaxRecords` (20 to 100, default 100) per page
//! with a `Marker`. Moto answers with the user-set parameters only, in one page.
//!
//! The parameter names come from `data/aurora-postgresql-parameters.tsv` (PostgreSQL's own
//! `postgres --describe-config`, plus Aurora's `rds.*`, `apg_plan_mgmt.*` and others).

use crate::protocol::escape as xml_escape;
use crate::xml;

const FAMILY: &str = include_str!("data/aurora-postgresql-parameters.tsv");

/// The request's paging and filter, checked as AWS checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    max_records: usize,
    offset: usize,
    source: Option<String>,
}

/// Read `MaxRecords`, `Marker` and `Source` from the form; AWS's error message when invalid.
pub fn page_of(form: &[(String, String)]) -> Result<Page, String> {
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let max_records = match get("MaxRecords") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (20..=100).contains(&n) => n,
            _ => {
                return Err(format!(
                    "Invalid value {v} for MaxRecords. Must be between 20 and 100"
                ))
            }
        },
    };
    let offset = match get("Marker") {
        None => 0,
        Some(m) => m
            .strip_prefix("params-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("Invalid marker: {m}"))?,
    };
    Ok(Page {
        max_records,
        offset,
        source: get("Source").map(str::to_string),
    })
}

/// The keys the gateway answers for itself, removed from the form moto gets.
pub const PAGING_KEYS: &[&str] = &["MaxRecords", "Marker", "Source"];

/// Build the result from moto's answer (the user-set parameters) and the family's defaults.
pub fn result(moto_xml: &str, page: &Page) -> String {
    let mut user: Vec<(String, String, String)> = Vec::new();
    let _ = xml::map_members(moto_xml, "Parameter", |block| {
        if let Some(name) = xml::text(block, "ParameterName") {
            user.push((
                name,
                xml::text(block, "ParameterValue").unwrap_or_default(),
                xml::text(block, "ApplyMethod").unwrap_or_else(|| "pending-reboot".into()),
            ));
        }
        None
    });
    let mut all: Vec<String> = Vec::new();
    for line in FAMILY.lines() {
        let mut f = line.split('\t');
        let (Some(name), Some(apply), Some(ty)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let desc = f.next().unwrap_or_default();
        let set = user.iter().find(|(n, _, _)| n == name);
        let source = if set.is_some() {
            "user"
        } else {
            "engine-default"
        };
        if page.source.as_deref().is_some_and(|s| s != source) {
            continue;
        }
        let value = set
            .map(|(_, v, _)| format!("<ParameterValue>{}</ParameterValue>", xml_escape(v)))
            .unwrap_or_default();
        let method = set
            .map(|(_, _, m)| format!("<ApplyMethod>{}</ApplyMethod>", xml_escape(m)))
            .unwrap_or_default();
        all.push(format!(
            "<Parameter><ParameterName>{}</ParameterName>{value}<Description>{}</Description><Source>{source}</Source><ApplyType>{apply}</ApplyType><DataType>{ty}</DataType><IsModifiable>true</IsModifiable>{method}<SupportedEngineModes><member>provisioned</member></SupportedEngineModes></Parameter>",
            xml_escape(name),
            xml_escape(desc)
        ));
    }
    page.of(&all)
}

impl Page {
    /// The `Source` filter asked for.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// This page of `<Parameter>` elements, with a `Marker` when more follow.
    pub fn of(&self, all: &[String]) -> String {
        let end = (self.offset + self.max_records).min(all.len());
        let items = all.get(self.offset..end).unwrap_or_default().concat();
        let marker = if end < all.len() {
            format!("<Marker>params-{end}</Marker>")
        } else {
            String::new()
        };
        format!("<Parameters>{items}</Parameters>{marker}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOTO: &str = "<Parameters><Parameter><ParameterName>rds.force_ssl</ParameterName><ParameterValue>1</ParameterValue><ApplyMethod>immediate</ApplyMethod></Parameter></Parameters>";

    #[test]
    fn pages_the_whole_family_and_marks_what_the_group_sets() {
        let mut seen = 0;
        let mut marker: Option<String> = None;
        let mut found = false;
        loop {
            let mut form = vec![];
            if let Some(m) = &marker {
                form.push(("Marker".to_string(), m.clone()));
            }
            let page = page_of(&form).unwrap();
            let r = result(MOTO, &page);
            let n = r.matches("<Parameter>").count();
            assert!(n <= 100);
            seen += n;
            found |= r.contains("<ParameterName>rds.force_ssl</ParameterName><ParameterValue>1</ParameterValue><Description>Force SSL connections.</Description><Source>user</Source>");
            match xml::text(&r, "Marker") {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        assert!(seen > 300, "{seen}");
        assert!(found);
        let user = result(MOTO, &page_of(&[("Source".into(), "user".into())]).unwrap());
        assert_eq!(user.matches("<Parameter>").count(), 1);
        assert!(page_of(&[("MaxRecords".into(), "500".into())]).is_err());
    }
}
