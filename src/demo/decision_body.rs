//! The decision document PMS answers (protocol §5.3): `MediaContainer` codes and one `Metadata`
//! whose `Media[0]` describes the output of a [`decide`](super::decision::decide) outcome.
//!
//! Why apart from `decision.rs`: that file holds PMS's rules (what plays how); this one the JSON
//! shape players read back, which changes when Plex's document does. Nothing here decides.

use serde_json::{Value, json};

use super::decision::{Outcome, Params};
use super::library::{Library, key_text};
use super::media::Facts;
use super::store::{DecisionKind, Packaging, State};

/// The decision document's `MediaContainer` (protocol §5.3): codes, and one `Metadata` whose
/// `Media[0]` describes the output.
pub(crate) fn body(p: &Params, o: &Outcome, lib: &Library, st: &State, facts: &Facts) -> Value {
    let item = lib
        .item(&p.rating_key)
        // The decision describes media, not watch state: the owner's view is as good as any.
        .map(|i| lib.detail(i, st, 0))
        .unwrap_or_else(|| json!({}));
    let section_id = item
        .get("librarySectionID")
        .and_then(key_text)
        .unwrap_or_default();
    let section = lib.section(&section_id);
    let mut c = json!({
        "size": 1,
        "allowSync": "1",
        "identifier": "com.plexapp.plugins.library",
        "librarySectionID": section_id,
        "librarySectionTitle": section.and_then(|s| s.get("title")).cloned().unwrap_or(Value::Null),
        "librarySectionUUID": section.and_then(|s| s.get("uuid")).cloned().unwrap_or(Value::Null),
        "mediaTagPrefix": "/system/bundle/media/flags/",
        "mediaTagVersion": "1716000000",
        "directPlayDecisionCode": if o.kind == DecisionKind::DirectPlay { 1000 } else { 3000 },
        "directPlayDecisionText": o.direct_play_text,
    });
    let (general, general_text) = match o.kind {
        DecisionKind::DirectPlay => (1000, "Direct play OK."),
        DecisionKind::Transcode => (1001, "Direct play not available; Conversion OK."),
        DecisionKind::Unavailable => (2000, "Neither direct play nor conversion is available."),
    };
    c["generalDecisionCode"] = json!(general);
    c["generalDecisionText"] = json!(general_text);
    match o.kind {
        DecisionKind::Transcode => {
            c["transcodeDecisionCode"] = json!(1001);
            c["transcodeDecisionText"] = json!(general_text);
        }
        DecisionKind::Unavailable => {
            c["transcodeDecisionCode"] = json!(4000);
            c["transcodeDecisionText"] = json!(
                "Cannot convert this item. The demo server produces no progressive (protocol=http) output."
            );
        }
        DecisionKind::DirectPlay => {}
    }
    if p.has_mde {
        c["mdeDecisionCode"] = json!(general);
        c["mdeDecisionText"] = json!(general_text);
    }
    let mut meta = item;
    if let Some(obj) = meta.as_object_mut() {
        match o.kind {
            DecisionKind::Unavailable => {
                obj.remove("Media");
            }
            _ => {
                let media = output_media(p, o, obj.get("Media"), facts);
                obj.insert("Media".into(), json!([media]));
            }
        }
    }
    c["Metadata"] = json!([meta]);
    c
}

/// The source Media/Part holding `p.part_id`, and that Part.
fn source(media: Option<&Value>, part_id: u64) -> Option<(&Value, &Value)> {
    media?.as_array()?.iter().find_map(|m| {
        let part = m
            .get("Part")?
            .as_array()?
            .iter()
            .find(|pt| pt.get("id").and_then(Value::as_u64) == Some(part_id))?;
        Some((m, part))
    })
}

fn output_media(p: &Params, o: &Outcome, media: Option<&Value>, facts: &Facts) -> Value {
    let Some((src_media, src_part)) = source(media, p.part_id) else {
        return json!({});
    };
    let stream = |id: u64| {
        src_part
            .get("Stream")
            .and_then(Value::as_array)
            .and_then(|ss| {
                ss.iter()
                    .find(|s| s.get("id").and_then(Value::as_u64) == Some(id))
            })
            .cloned()
    };
    let video_src = src_part
        .get("Stream")
        .and_then(Value::as_array)
        .and_then(|ss| {
            ss.iter()
                .find(|s| s.get("streamType").and_then(Value::as_u64) == Some(1))
        })
        .cloned();
    let mut streams = Vec::new();

    if o.kind == DecisionKind::DirectPlay {
        let mut m = src_media.clone();
        let mut part = src_part.clone();
        if let Some(mut v) = video_src {
            v["decision"] = json!("copy");
            v["location"] = json!("direct");
            streams.push(v);
        }
        if let Some(mut a) = o.audio_stream.and_then(stream) {
            a["selected"] = json!(true);
            a["decision"] = json!("copy");
            a["location"] = json!("direct");
            streams.push(a);
        }
        if let Some((id, decision, location)) = o.subtitle
            && let Some(mut s) = stream(id)
        {
            s["selected"] = json!(true);
            s["decision"] = json!(decision);
            s["location"] = json!(location);
            streams.push(s);
        }
        part["decision"] = json!("directplay");
        part["selected"] = json!(true);
        part["Stream"] = json!(streams);
        m["selected"] = json!(true);
        m["Part"] = json!([part]);
        return m;
    }

    let top = &facts.renditions[o.renditions[0]];
    let (video_loc, audio_loc) = match o.packaging {
        Packaging::Dash => ("segments-video", "segments-audio"),
        _ => ("segments-av", "segments-av"),
    };
    let protocol = o.packaging.protocol();
    let container = o.packaging.container();
    let duration = src_part.get("duration").cloned().unwrap_or(Value::Null);
    if let Some(mut v) = video_src {
        v["codec"] = json!("h264");
        v["width"] = json!(top.width);
        v["height"] = json!(top.height);
        v["bitrate"] = json!(top.video_bandwidth / 1000);
        v["decision"] = json!(o.video);
        v["location"] = json!(video_loc);
        streams.push(v);
    }
    if let Some(mut a) = o.audio_stream.and_then(stream) {
        a["selected"] = json!(true);
        a["codec"] = json!("aac");
        a["channels"] = json!(facts.audio.channels);
        a["bitrate"] = json!(facts.audio.bandwidth / 1000);
        a["decision"] = json!(o.audio);
        a["location"] = json!(audio_loc);
        streams.push(a);
    }
    if let Some((id, decision, location)) = o.subtitle
        && let Some(mut s) = stream(id)
    {
        s["selected"] = json!(true);
        s["decision"] = json!(decision);
        if let Some(loc) = location {
            s["location"] = json!(loc);
        }
        if location == Some("segments-subs") {
            s["codec"] = json!("webvtt");
        }
        streams.push(s);
    }
    let resolution = if top.height >= 1080 {
        "1080"
    } else if top.height >= 720 {
        "720"
    } else {
        "sd"
    };
    json!({
        "id": src_media.get("id").cloned().unwrap_or(Value::Null),
        "selected": true,
        "protocol": protocol,
        "container": container,
        "videoCodec": "h264",
        "audioCodec": "aac",
        "audioChannels": facts.audio.channels,
        "bitrate": (top.video_bandwidth + facts.audio.bandwidth) / 1000,
        "width": top.width,
        "height": top.height,
        "videoResolution": resolution,
        "duration": duration,
        "Part": [{
            "id": p.part_id,
            "decision": "transcode",
            "selected": true,
            "protocol": protocol,
            "container": container,
            "duration": duration,
            "width": top.width,
            "height": top.height,
            "Stream": streams,
        }],
    })
}
