<?xml version="1.0"?>
<!--
  Prints the README's parameter table (GitHub-flavoured markdown) from the agent's
  OCF meta-data, ocf-metadata/pgsqlms.xml. Run through packaging/gen-param-table.sh.
  Columns: parameter, default, description (shortdesc), details (longdesc, one
  line). An empty default is written as *(empty)*; tests/docs_sync.rs relies on
  the first two columns being `name` and `default` (in backticks).
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text" encoding="UTF-8"/>

  <xsl:template name="cell">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="contains($text, '|')">
        <xsl:value-of select="substring-before($text, '|')"/>
        <xsl:text>\|</xsl:text>
        <xsl:call-template name="cell">
          <xsl:with-param name="text" select="substring-after($text, '|')"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="$text"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="/resource-agent">
    <xsl:text>| Parameter | Default | Description | Details |&#10;</xsl:text>
    <xsl:text>|---|---|---|---|&#10;</xsl:text>
    <xsl:for-each select="parameters/parameter">
      <xsl:text>| `</xsl:text>
      <xsl:value-of select="@name"/>
      <xsl:text>` | </xsl:text>
      <xsl:choose>
        <xsl:when test="string(content/@default) = ''">*(empty)*</xsl:when>
        <xsl:otherwise>
          <xsl:text>`</xsl:text>
          <xsl:call-template name="cell">
            <xsl:with-param name="text" select="content/@default"/>
          </xsl:call-template>
          <xsl:text>`</xsl:text>
        </xsl:otherwise>
      </xsl:choose>
      <xsl:text> | </xsl:text>
      <xsl:call-template name="cell">
        <xsl:with-param name="text" select="normalize-space(shortdesc)"/>
      </xsl:call-template>
      <xsl:text> | </xsl:text>
      <xsl:call-template name="cell">
        <xsl:with-param name="text" select="normalize-space(longdesc)"/>
      </xsl:call-template>
      <xsl:text> |&#10;</xsl:text>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
