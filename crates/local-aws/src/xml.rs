//! Reading and rewriting elements of the XML that moto answers with, on a real parser
//! (`quick-xml`): elements are matched by local name whatever their attributes or namespace
//! prefix, text is unescaped, and a rewrite splices only the element it names, leaving every
//! other byte of moto's answer as it was.

use std::ops::Range;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Where one element sits in a document: the whole element and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    outer: Range<usize>,
    inner: Range<usize>,
}

/// The outermost elements named `tag` (by local name), in document order, and where the
/// document's root element closes. Malformed XML ends the scan where the parser stops.
fn scan(xml: &str, tag: &str) -> (Vec<Span>, Option<usize>) {
    let mut reader = Reader::from_str(xml);
    let mut found = Vec::new();
    let mut open: Option<(usize, usize)> = None; // outer start, inner start
    let mut same_depth = 0usize; // nested elements of the same name inside a match
    let mut depth = 0usize;
    let mut root_close = None;
    loop {
        let before = pos(&reader);
        let Ok(event) = reader.read_event() else {
            break;
        };
        let after = pos(&reader);
        match event {
            Event::Start(e) => {
                depth += 1;
                if e.local_name().as_ref() == tag.as_bytes() {
                    match open {
                        None => open = Some((before, after)),
                        Some(_) => same_depth += 1,
                    }
                }
            }
            Event::Empty(e) if open.is_none() && e.local_name().as_ref() == tag.as_bytes() => {
                found.push(Span {
                    outer: before..after,
                    inner: after..after,
                });
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    root_close = Some(before);
                }
                if e.local_name().as_ref() == tag.as_bytes() {
                    if same_depth > 0 {
                        same_depth -= 1;
                    } else if let Some((start, inner)) = open.take() {
                        found.push(Span {
                            outer: start..after,
                            inner: inner..before,
                        });
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (found, root_close)
}

fn pos(reader: &Reader<&[u8]>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

/// The raw content of the first `tag` element (child elements included), for reading further.
pub(crate) fn inner<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let (spans, _) = scan(xml, tag);
    spans.first().map(|s| &xml[s.inner.clone()])
}

/// The unescaped text of the first `tag` element.
pub(crate) fn text(xml: &str, tag: &str) -> Option<String> {
    let raw = inner(xml, tag)?;
    Some(
        quick_xml::escape::unescape(raw)
            .map(|t| t.into_owned())
            .unwrap_or_else(|_| raw.to_string()),
    )
}

/// The unescaped text of every outermost `tag` element, in order.
pub(crate) fn texts(xml: &str, tag: &str) -> Vec<String> {
    let (spans, _) = scan(xml, tag);
    spans
        .iter()
        .map(|s| {
            let raw = &xml[s.inner.clone()];
            quick_xml::escape::unescape(raw)
                .map(|t| t.into_owned())
                .unwrap_or_else(|_| raw.to_string())
        })
        .collect()
}

/// Apply `f` to every outermost `member` element (by local name); `None` keeps it as it is.
pub(crate) fn map_members(
    xml: &str,
    member: &str,
    mut f: impl FnMut(&str) -> Option<String>,
) -> String {
    let (spans, _) = scan(xml, member);
    let mut out = String::with_capacity(xml.len());
    let mut at = 0;
    for s in spans {
        out.push_str(&xml[at..s.outer.start]);
        let block = &xml[s.outer.clone()];
        out.push_str(&f(block).unwrap_or_else(|| block.to_string()));
        at = s.outer.end;
    }
    out.push_str(&xml[at..]);
    out
}

/// Set the content of the first `tag` element in a block (`inner` is raw XML): replace the
/// element where present (an empty `<tag/>` too), add it before the block's closing tag
/// otherwise.
pub(crate) fn set_element(block: &str, tag: &str, inner: &str) -> String {
    let element = format!("<{tag}>{inner}</{tag}>");
    let (spans, root_close) = scan(block, tag);
    let at = match spans.first() {
        Some(s) => s.outer.clone(),
        None => match root_close {
            Some(k) => k..k,
            None => return block.to_string(),
        },
    };
    format!("{}{element}{}", &block[..at.start], &block[at.end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_elements() {
        let xml = "<R><DBClusters><DBCluster><Id>a</Id><Status>available</Status><DBClusterMembers><DBClusterMember>x</DBClusterMember></DBClusterMembers></DBCluster><DBCluster><Id>b</Id></DBCluster></DBClusters></R>";
        let out = map_members(xml, "DBCluster", |b| {
            (text(b, "Id").as_deref() == Some("a")).then(|| b.replace("available", "creating"))
        });
        assert!(out.contains("<Id>a</Id><Status>creating</Status>"), "{out}");
        assert!(
            out.contains("<DBClusterMember>x</DBClusterMember>"),
            "{out}"
        );
        assert!(
            out.ends_with("<DBCluster><Id>b</Id></DBCluster></DBClusters></R>"),
            "{out}"
        );
        assert_eq!(
            set_element("<I><P/></I>", "P", "<C>1</C>"),
            "<I><P><C>1</C></P></I>"
        );
        assert_eq!(
            set_element("<I><P><C>0</C></P></I>", "P", "<C>1</C>"),
            "<I><P><C>1</C></P></I>"
        );
        assert_eq!(
            set_element("<I><X/></I>", "P", "<C>1</C>"),
            "<I><X/><P><C>1</C></P></I>"
        );
    }

    /// What text search got wrong: attributes and namespace prefixes on a tag, escaped
    /// content, a tag name that is a prefix of another, and nested elements of the same name.
    #[test]
    fn attributes_namespaces_escapes_and_nesting() {
        let xml = r#"<R xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Key xsi:nil="false">a&amp;b &lt;c&gt;</Key></R>"#;
        assert_eq!(text(xml, "Key").as_deref(), Some("a&b <c>"));
        let prefixed = r#"<ns:R xmlns:ns="urn:x"><ns:Id>7</ns:Id></ns:R>"#;
        assert_eq!(text(prefixed, "Id").as_deref(), Some("7"));
        let prefix = "<R><KmsKeyIdentifier>no</KmsKeyIdentifier><KmsKeyId>yes</KmsKeyId></R>";
        assert_eq!(text(prefix, "KmsKeyId").as_deref(), Some("yes"));
        let nested = "<R><Item><Item>in</Item></Item><Item>two</Item></R>";
        let mut seen = Vec::new();
        let out = map_members(nested, "Item", |b| {
            seen.push(b.to_string());
            None
        });
        assert_eq!(out, nested);
        assert_eq!(seen, ["<Item><Item>in</Item></Item>", "<Item>two</Item>"]);
        let with_attr = r#"<I a="1"><P b="2">old</P></I>"#;
        assert_eq!(
            set_element(with_attr, "P", "new"),
            r#"<I a="1"><P>new</P></I>"#
        );
    }
}
