//! Small, careful string operations on the XML that moto answers with. The gateway only ever
//! rewrites elements it can name exactly, so a full parser is not needed.

/// The text of the first `<tag>…</tag>` in `xml`.
pub(crate) fn text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// Apply `f` to every `<member>…</member>` block (exact tag name); `None` keeps a block as it is.
pub(crate) fn map_members(
    xml: &str,
    member: &str,
    mut f: impl FnMut(&str) -> Option<String>,
) -> String {
    let open = format!("<{member}>");
    let close = format!("</{member}>");
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let Some(j) = rest[i..].find(&close) else {
            break;
        };
        let end = i + j + close.len();
        out.push_str(&rest[..i]);
        let block = &rest[i..end];
        out.push_str(&f(block).unwrap_or_else(|| block.to_string()));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Set the content of `<tag>` in a block: replace it where present (also `<tag/>`), add it before
/// the block's closing tag otherwise.
pub(crate) fn set_element(block: &str, tag: &str, inner: &str) -> String {
    let element = format!("<{tag}>{inner}</{tag}>");
    if let Some(empty) = [format!("<{tag}/>"), format!("<{tag} />")]
        .into_iter()
        .find(|e| block.contains(e.as_str()))
    {
        return block.replacen(&empty, &element, 1);
    }
    let open = format!("<{tag}>");
    if let (Some(i), Some(j)) = (block.find(&open), block.find(&format!("</{tag}>"))) {
        return format!("{}{element}{}", &block[..i], &block[j + tag.len() + 3..]);
    }
    match block.rfind("</") {
        Some(k) => format!("{}{element}{}", &block[..k], &block[k..]),
        None => block.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_elements() {
        let xml = "<R><DBClusters><DBCluster><Id>a</Id><Status>available</Status><DBClusterMembers><DBClusterMember>x</DBClusterMember></DBClusterMembers></DBCluster><DBCluster><Id>b</Id></DBCluster></DBClusters></R>";
        let out = map_members(xml, "DBCluster", |b| {
            (text(b, "Id") == Some("a")).then(|| b.replace("available", "creating"))
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
}
